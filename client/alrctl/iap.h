/* alrctl's IAPs: the table status and iap list print. */
#pragma once

#include <stdbool.h>

#include <json-c/json.h>

/* One line per IAP of @iaps: the short columns of status, or with @full
 * every column of iap list. */
void print_iap_table(struct json_object *iaps, bool full, const char *indent);
