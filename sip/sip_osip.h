/* The one way to include libosip2: <osip2/osip.h> uses struct timeval and
 * time_t without including their headers, so <sys/time.h> and <time.h>
 * must come first. */
#pragma once

#include <sys/time.h>
#include <time.h>

#include <osip2/osip.h>
#include <osipparser2/osip_message.h>
#include <osipparser2/osip_parser.h>
#include <osipparser2/osip_port.h>
