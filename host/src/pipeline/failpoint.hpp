#pragma once

namespace nomnom::host {

// Fault injection for the crash tests: NOMNOM_FAILPOINT=<name> in the environment makes the
// host kill itself with SIGKILL when it reaches that point, which is the only way to hit a
// window as narrow as "after the commit, before the ack" deterministically from a test.
// NOMNOM_FAILPOINT=<name>:throw throws std::runtime_error there instead, once per process, to
// reach the handling of unexpected exceptions.
// Known points: receive, after_commit, before_settle.
void failpoint(const char* name);

}  // namespace nomnom::host
