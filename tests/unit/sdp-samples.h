/* SDP bodies real softphones sent (Debian 12), for test-sdp and
 * test-media: each one's INVITE to a UDP socket on loopback (`baresip -e
 * "/dial sip:bob@127.0.0.1:5098"`, linphonec's `call`), copied as sent.
 * baresip 1.0.0 put its default interface's address (192.0.2.2) in them,
 * linphonec 5.1.65 its IPv6 one (fd00::2), while both talked over
 * loopback. */
#pragma once

/* baresip 1.0.0: g711, opus and g722 modules, no ICE. */
static const char SDP_BARESIP[] =
	"v=0\r\n"
	"o=- 3497197909 1955310777 IN IP4 192.0.2.2\r\n"
	"s=-\r\n"
	"c=IN IP4 192.0.2.2\r\n"
	"t=0 0\r\n"
	"a=tool:baresip 1.0.0\r\n"
	"m=audio 17948 RTP/AVP 0 8 96 9 101\r\n"
	"a=rtpmap:0 PCMU/8000\r\n"
	"a=rtpmap:8 PCMA/8000\r\n"
	"a=rtpmap:96 opus/48000/2\r\n"
	"a=fmtp:96 stereo=1;sprop-stereo=1\r\n"
	"a=rtpmap:9 G722/8000\r\n"
	"a=rtpmap:101 telephone-event/8000\r\n"
	"a=fmtp:101 0-15\r\n"
	"a=sendrecv\r\n"
	"a=label:1\r\n"
	"a=rtcp-rsize\r\n"
	"a=ssrc:4191657369 cname:sip:alice@127.0.0.1\r\n"
	"a=minptime:20\r\n"
	"a=ptime:20\r\n";

/* baresip 1.0.0 with the ice module (medianat=ice): session-level
 * a=ice-ufrag/pwd, a media-level c=, a=rtcp: with an address (RFC 3605), and
 * host candidates of both families. */
static const char SDP_BARESIP_ICE[] =
	"v=0\r\n"
	"o=- 2130871718 1319822250 IN IP4 192.0.2.2\r\n"
	"s=-\r\n"
	"c=IN IP4 192.0.2.2\r\n"
	"t=0 0\r\n"
	"a=tool:baresip 1.0.0\r\n"
	"a=ice-ufrag:4SH9rnp\r\n"
	"a=ice-pwd:7b2d9xb2u5BF4IKvtARAYW36z4WzPLK\r\n"
	"m=audio 7954 RTP/AVP 0 8 96 9 101\r\n"
	"c=IN IP4 192.0.2.2\r\n"
	"a=rtpmap:0 PCMU/8000\r\n"
	"a=rtpmap:8 PCMA/8000\r\n"
	"a=rtpmap:96 opus/48000/2\r\n"
	"a=fmtp:96 stereo=1;sprop-stereo=1\r\n"
	"a=rtpmap:9 G722/8000\r\n"
	"a=rtpmap:101 telephone-event/8000\r\n"
	"a=fmtp:101 0-15\r\n"
	"a=rtcp:7955 IN IP4 192.0.2.2\r\n"
	"a=sendrecv\r\n"
	"a=label:1\r\n"
	"a=rtcp-rsize\r\n"
	"a=ssrc:234160955 cname:sip:alice@[::1]\r\n"
	"a=minptime:20\r\n"
	"a=ptime:20\r\n"
	"a=candidate:c0000202 1 UDP 2113929471 192.0.2.2 7954 typ host\r\n"
	"a=candidate:c0000202 2 UDP 2113929470 192.0.2.2 7955 typ host\r\n"
	"a=candidate:020000fd 1 UDP 2113929471 fd00::2 7954 typ host\r\n"
	"a=candidate:020000fd 2 UDP 2113929470 fd00::2 7955 typ host\r\n";

/* linphonec 5.1.65: IPv6 addresses, audio only. */
static const char SDP_LINPHONE_IPV6[] =
	"v=0\r\n"
	"o=linphone 3755 574 IN IP6 fd00::2\r\n"
	"s=Talk\r\n"
	"c=IN IP6 fd00::2\r\n"
	"t=0 0\r\n"
	"a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics\r\n"
	"m=audio 7078 RTP/AVP 96 97 98 0 8 18 99 100 101\r\n"
	"a=rtpmap:96 opus/48000/2\r\n"
	"a=fmtp:96 useinbandfec=1\r\n"
	"a=rtpmap:97 speex/16000\r\n"
	"a=fmtp:97 vbr=on\r\n"
	"a=rtpmap:98 speex/8000\r\n"
	"a=fmtp:98 vbr=on\r\n"
	"a=fmtp:18 annexb=yes\r\n"
	"a=rtpmap:99 telephone-event/48000\r\n"
	"a=rtpmap:100 telephone-event/16000\r\n"
	"a=rtpmap:101 telephone-event/8000\r\n"
	"a=rtcp-fb:* trr-int 5000\r\n"
	"a=rtcp-fb:* ccm tmmbr\r\n";

/* linphonec 5.1.65 with [rtp] rtcp_mux=1 and video (the StaticImage
 * camera): two streams, both with a=rtcp-mux (RFC 5761). */
static const char SDP_LINPHONE_MUX[] =
	"v=0\r\n"
	"o=linphone 2106 3609 IN IP6 fd00::2\r\n"
	"s=Talk\r\n"
	"c=IN IP6 fd00::2\r\n"
	"t=0 0\r\n"
	"a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics\r\n"
	"m=audio 7078 RTP/AVP 96 97 98 0 8 18 99 100 101\r\n"
	"a=rtpmap:96 opus/48000/2\r\n"
	"a=fmtp:96 useinbandfec=1\r\n"
	"a=rtpmap:97 speex/16000\r\n"
	"a=fmtp:97 vbr=on\r\n"
	"a=rtpmap:98 speex/8000\r\n"
	"a=fmtp:98 vbr=on\r\n"
	"a=fmtp:18 annexb=yes\r\n"
	"a=rtpmap:99 telephone-event/48000\r\n"
	"a=rtpmap:100 telephone-event/16000\r\n"
	"a=rtpmap:101 telephone-event/8000\r\n"
	"a=rtcp-mux\r\n"
	"a=rtcp-fb:* trr-int 5000\r\n"
	"a=rtcp-fb:* ccm tmmbr\r\n"
	"m=video 9078 RTP/AVP 96\r\n"
	"a=rtpmap:96 VP8/90000\r\n"
	"a=rtcp-mux\r\n"
	"a=rtcp-fb:* trr-int 5000\r\n"
	"a=rtcp-fb:* ccm tmmbr\r\n"
	"a=rtcp-fb:96 nack pli\r\n"
	"a=rtcp-fb:96 nack sli\r\n"
	"a=rtcp-fb:96 ack rpsi\r\n"
	"a=rtcp-fb:96 ccm fir\r\n";

