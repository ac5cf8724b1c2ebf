"""What every benchmark shares: the machine it ran on, the figures'
statistics, the one summary line, and the dated section it appends to
docs/benchmarks.md.

A benchmark script does, at its end:

    import benchlib
    benchlib.summary('failover', 'median 5.40 ms (min 4.1, max 9.8), 50 runs')
    benchlib.append_section('SIP failover on carrier loss', body_markdown,
                            build=BUILD, packages=['kamailio'])

`summary` prints the one line `bench NAME: TEXT` that `bench/run`
collects.  `append_section` appends

    ## YYYY-MM-DD — TITLE

    Machine: CPU, cores, memory, kernel, Debian; alrd build; package versions.
    Command: the command line.

    BODY

to docs/benchmarks.md, unless ALR_BENCH_NO_DOCS is set in the environment
(the short runs inside `make check` set it: they check that the benchmark
works, their figures are not results).
"""

import datetime
import os
import platform
import shlex
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DOCS = os.path.join(ROOT, 'docs', 'benchmarks.md')
TESTS = os.path.join(ROOT, 'tests', 'integration')

for p in (TESTS, os.path.join(TESTS, 'peers')):
    if p not in sys.path:
        sys.path.insert(0, p)


def machine():
    """The machine as a dict: cpu, cores, mem, kernel, os."""
    cpu = '?'
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    mem = '?'
    try:
        with open('/proc/meminfo') as f:
            for line in f:
                if line.startswith('MemTotal:'):
                    mem = '%.1f GiB' % (int(line.split()[1]) / 1024 ** 2)
    except OSError:
        pass
    try:
        with open('/etc/debian_version') as f:
            debian = 'Debian ' + f.read().strip()
    except OSError:
        debian = '?'
    return {'cpu': cpu, 'cores': os.cpu_count(), 'mem': mem,
            'kernel': platform.release(), 'os': debian}


def load():
    """The 1-minute load average, as a string (the machine is shared)."""
    try:
        with open('/proc/loadavg') as f:
            return f.read().split()[0]
    except OSError:
        return '?'


def build_info(build):
    """'alrd 0.1.0, RelWithDebInfo' (and ', sanitizers' when they are on)."""
    version = '?'
    alrd = os.path.join(build, 'daemon', 'alrd')
    try:
        r = subprocess.run([alrd, '--version'], capture_output=True,
                           text=True, timeout=10)
        out = (r.stdout or r.stderr).strip().splitlines()
        if out:
            version = out[0]
    except (OSError, subprocess.TimeoutExpired):
        pass
    bt, san = '?', False
    try:
        with open(os.path.join(build, 'CMakeCache.txt')) as f:
            for line in f:
                if line.startswith('CMAKE_BUILD_TYPE:'):
                    bt = line.split('=', 1)[1].strip() or 'default'
                if line.startswith('ALR_SANITIZE:'):
                    san = line.split('=', 1)[1].strip().upper() in (
                        'ON', '1', 'YES', 'TRUE')
    except OSError:
        pass
    return '%s, %s%s' % (version, bt, ', sanitizers' if san else '')


def package_versions(packages):
    """{'kamailio': '5.6.3-2', ...} from dpkg; '?' for one not installed."""
    out = {}
    for p in packages:
        try:
            r = subprocess.run(['dpkg-query', '-W', '-f', '${Version}', p],
                               capture_output=True, text=True, timeout=10)
            out[p] = r.stdout.strip() if r.returncode == 0 else '?'
        except (OSError, subprocess.TimeoutExpired):
            out[p] = '?'
    return out


def stats(values):
    """(median, min, max) of a non-empty list; None for an empty one."""
    if not values:
        return None
    return statistics.median(values), min(values), max(values)


def fmt_stats(values, unit='ms', digits=2):
    """'median 5.40 ms (min 4.10, max 9.80, n=50)'."""
    s = stats(values)
    if s is None:
        return 'no value'
    f = '%%.%df' % digits
    return ('median ' + f + ' %s (min ' + f + ', max ' + f + ', n=%d)') % (
        s[0], unit, s[1], s[2], len(values))


def table(rows, unit='ms', digits=2):
    """A markdown table of {name: [values]}: median, min, max."""
    f = '%%.%df' % digits
    out = ['| %s | median | min | max | n |' % unit, '| --- | ---: | ---: | ---: | ---: |']
    for name, xs in rows.items():
        if not xs:
            out.append('| %s | - | - | - | 0 |' % name)
            continue
        m, lo, hi = stats(xs)
        out.append(('| %s | **' + f + '** | ' + f + ' | ' + f + ' | %d |') % (
            name, m, lo, hi, len(xs)))
    return '\n'.join(out) + '\n'


def summary(name, text):
    """The benchmark's one summary line."""
    print('bench %s: %s' % (name, text), flush=True)


def append_section(title, body, build=None, packages=(), argv=None):
    """Append a dated section to docs/benchmarks.md (see the module text).
    Returns the path written, or None when ALR_BENCH_NO_DOCS is set."""
    if os.environ.get('ALR_BENCH_NO_DOCS'):
        return None
    m = machine()
    lines = ['', '## %s — %s' % (datetime.date.today().isoformat(), title), '']
    mline = 'Machine: %s, %s cores, %s, kernel %s, %s; load %s at the end.' % (
        m['cpu'], m['cores'], m['mem'], m['kernel'], m['os'], load())
    lines.append(mline)
    if build:
        lines.append('Build: %s.' % build_info(build))
    if packages:
        pv = package_versions(packages)
        lines.append('Versions: %s.' % ', '.join(
            '%s %s' % (k, v) for k, v in pv.items()))
    argv = sys.argv if argv is None else argv
    cmd = ' '.join(shlex.quote(a) for a in argv)
    cmd = cmd.replace(ROOT + '/', '')
    lines.append('Command: `sudo %s`.' % cmd)
    lines.append('')
    lines.append(body.rstrip('\n'))
    text = '\n'.join(lines) + '\n'
    with open(DOCS, 'a') as f:
        f.write(text)
    return DOCS


# ---------------------------------------------------------------------------
# A process's cost, from /proc (added for bench/event-storm, idle-cost and
# approval-fanout).  Reading /proc does not wake the process read.

CLK_TCK = os.sysconf('SC_CLK_TCK')


def proc_cpu(pid):
    """utime + stime of the whole process (every thread, live and ended),
    in seconds, from /proc/PID/stat; resolution 1/CLK_TCK (10 ms)."""
    with open('/proc/%d/stat' % pid) as f:
        # The command name may hold spaces and parentheses: split after it.
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_runtime(pid):
    """Time on a CPU of the process's live threads, in seconds, from
    /proc/PID/task/*/schedstat (nanoseconds: the fine-grained counterpart
    of proc_cpu(); threads that ended are not counted)."""
    total = 0
    for tid in os.listdir('/proc/%d/task' % pid):
        try:
            with open('/proc/%d/task/%s/schedstat' % (pid, tid)) as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total / 1e9


def proc_status(pid, field, tid=None):
    """An integer field of /proc/PID/status (or of one thread's), e.g.
    'VmRSS' (kB) or 'voluntary_ctxt_switches'; None when absent."""
    path = ('/proc/%d/status' % pid if tid is None else
            '/proc/%d/task/%s/status' % (pid, tid))
    with open(path) as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    return None


def thread_switches(pid):
    """{tid: (voluntary, involuntary)} context switches of every live
    thread of PID."""
    out = {}
    for tid in os.listdir('/proc/%d/task' % pid):
        try:
            out[tid] = (proc_status(pid, 'voluntary_ctxt_switches', tid),
                        proc_status(pid, 'nonvoluntary_ctxt_switches', tid))
        except (FileNotFoundError, ProcessLookupError):
            pass
    return out


def switches_between(before, after):
    """(voluntary, involuntary, threads that ended) between two
    thread_switches() reads: threads alive at both count their
    difference, threads born in between all of theirs; a thread that ended
    in between is lost, and counted."""
    vol = invol = 0
    for tid, (v, n) in after.items():
        v0, n0 = before.get(tid, (0, 0))
        vol += v - v0
        invol += n - n0
    return vol, invol, len(set(before) - set(after))
