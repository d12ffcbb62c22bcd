#pragma once

#include <string>
#include <vector>

namespace nomnom::host {

// The name part of an HTTP Host header or of an Origin's authority: "Example.com:9464" ->
// "example.com", "[::1]:80" -> "[::1]"; lower case.
std::string host_name_of(const std::string& authority);

// Whether a request's Host header names this dashboard: an IP address, localhost, this
// machine's name, or one of `allowed` (http.allowed_hosts). Anything else is a name some other
// site resolved to this address (DNS rebinding) and is refused.
bool host_allowed(const std::string& host_header, const std::vector<std::string>& allowed);

}  // namespace nomnom::host
