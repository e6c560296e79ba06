// Small socket helpers shared by the launcher, the tests and the benchmarks.
#pragma once

namespace yolocpp::util {

// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it back, close). Another process
// may take it before the caller binds it; callers that cannot tolerate that retry. Throws IoError when no
// socket can be opened or bound.
int free_loopback_port();

}  // namespace yolocpp::util
