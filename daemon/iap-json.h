/* The IAP object of docs/protocol.md on the control socket. */
#pragma once

struct iap;
struct json_object;

/* A new reference; NULL on ENOMEM. */
struct json_object *iap_to_json(const struct iap *iap);
