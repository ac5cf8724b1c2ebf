/* STUN Binding for UDP flow keepalives (sip/stun.h). */
#include "sip/stun.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#define STUN_BINDING_REQUEST            0x0001
#define STUN_BINDING_SUCCESS            0x0101
#define STUN_BINDING_ERROR              0x0111

#define STUN_ATTR_MAPPED_ADDRESS        0x0001
#define STUN_ATTR_ERROR_CODE            0x0009
#define STUN_ATTR_XOR_MAPPED_ADDRESS    0x0020

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

bool stun_is_message(const void *buf, size_t len)
{
	const uint8_t *p = buf;

	return buf && len >= STUN_HEADER_LEN && (p[0] & 0xc0) == 0 &&
	       get32(p + 4) == STUN_MAGIC_COOKIE && get16(p + 2) % 4 == 0 &&
	       (size_t)get16(p + 2) + STUN_HEADER_LEN == len;
}

size_t stun_binding_request(uint8_t out[STUN_HEADER_LEN], const uint8_t txid[STUN_TXID_LEN])
{
	put16(out, STUN_BINDING_REQUEST);
	put16(out + 2, 0);
	put32(out + 4, STUN_MAGIC_COOKIE);
	memcpy(out + 8, txid, STUN_TXID_LEN);
	return STUN_HEADER_LEN;
}

/* An address attribute's value (RFC 5389 §15.1, §15.2): reserved byte,
 * family, port, address; XOR'd with the cookie (and the transaction id
 * for IPv6) when @xor. */
static int read_address(const uint8_t *v, size_t vlen, const uint8_t *header, bool xor,
			struct sockaddr_storage *ret)
{
	uint16_t port;

	if (vlen < 4)
		return -EBADMSG;
	port = get16(v + 2);
	if (xor)
		port ^= (uint16_t)(STUN_MAGIC_COOKIE >> 16);
	memset(ret, 0, sizeof(*ret));
	switch (v[1]) {
	case 0x01: {
		struct sockaddr_in *sin = (struct sockaddr_in *)ret;
		uint32_t a;

		if (vlen != 8)
			return -EBADMSG;
		a = get32(v + 4);
		if (xor)
			a ^= STUN_MAGIC_COOKIE;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sin->sin_addr.s_addr = htonl(a);
		return 0;
	}
	case 0x02: {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ret;

		if (vlen != 20)
			return -EBADMSG;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		memcpy(&sin6->sin6_addr, v + 4, 16);
		if (xor)        /* cookie and transaction id: header bytes 4..19 */
			for (size_t i = 0; i < 16; i++)
				sin6->sin6_addr.s6_addr[i] ^= header[4 + i];
		return 0;
	}
	default:
		return -EBADMSG;
	}
}

int stun_parse(const void *buf, size_t len, enum stun_class *ret_class,
	       uint8_t ret_txid[STUN_TXID_LEN], struct sockaddr_storage *ret_mapped,
	       int *ret_code)
{
	const uint8_t *p = buf;
	struct sockaddr_storage plain = { .ss_family = AF_UNSPEC };
	bool have_xor = false;
	uint16_t type;

	if (!stun_is_message(buf, len))
		return -EBADMSG;
	type = get16(p);
	*ret_class = type == STUN_BINDING_SUCCESS ? STUN_RESPONSE_SUCCESS :
		     type == STUN_BINDING_ERROR ? STUN_RESPONSE_ERROR : STUN_OTHER;
	memcpy(ret_txid, p + 8, STUN_TXID_LEN);
	ret_mapped->ss_family = AF_UNSPEC;
	*ret_code = 0;

	for (size_t off = STUN_HEADER_LEN; off < len;) {
		uint16_t at, alen;
		const uint8_t *v;

		if (len - off < 4)
			return -EBADMSG;
		at = get16(p + off);
		alen = get16(p + off + 2);
		v = p + off + 4;
		if ((size_t)alen > len - off - 4)
			return -EBADMSG;
		if (*ret_class == STUN_RESPONSE_SUCCESS && at == STUN_ATTR_XOR_MAPPED_ADDRESS &&
		    !have_xor) {
			if (read_address(v, alen, p, true, ret_mapped) < 0)
				return -EBADMSG;
			have_xor = true;
		} else if (*ret_class == STUN_RESPONSE_SUCCESS && at == STUN_ATTR_MAPPED_ADDRESS &&
			   plain.ss_family == AF_UNSPEC) {
			if (read_address(v, alen, p, false, &plain) < 0)
				return -EBADMSG;
		} else if (*ret_class == STUN_RESPONSE_ERROR && at == STUN_ATTR_ERROR_CODE) {
			if (alen < 4)
				return -EBADMSG;
			*ret_code = (v[2] & 0x07) * 100 + v[3] % 100;
		}
		/* Attributes are padded to 4 bytes (RFC 5389 §15). */
		off += 4 + (((size_t)alen + 3) & ~(size_t)3);
		if (off > len)
			return -EBADMSG;
	}
	if (!have_xor && plain.ss_family != AF_UNSPEC)
		*ret_mapped = plain;
	return 0;
}
