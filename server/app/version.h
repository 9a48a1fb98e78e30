/* The service's version, reported by /v1/version, /metrics and --version. */
#ifndef FT_VERSION_H
#define FT_VERSION_H

#define FT_VERSION "0.1.0"
#define FT_API_VERSION "v1"

#endif
