/* runtime-real/version: the version addd and addctl report (metrics
 * add_build_info, STATUS answers, --version). */
#ifndef ADD_REAL_VERSION_H
#define ADD_REAL_VERSION_H

#define ADD_VERSION "0.1.0"

#endif /* ADD_REAL_VERSION_H */
