// libFuzzer target for the host's envelope decoder (host/src/pipeline/envelope.cpp): what a
// consumer with format = "envelope" reads from any publisher before a plugin sees anything.
//
// Input layout: the first byte is a selector (unused here, kept so that every target reads its
// seeds alike, see run_fuzz.sh), the rest is the message payload.
//
// Findings (abort): a crash, a sanitizer report (a stack overflow from deep nesting among them),
// a leak; a refusal that still sets fields, or an accepted envelope without its body's bytes.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "pipeline/envelope.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const std::string_view payload(reinterpret_cast<const char*>(data) + 1, size - 1);
    const nomnom::host::Envelope envelope = nomnom::host::parse_envelope(payload);
    if (!envelope.error.empty() &&
        (!envelope.body.empty() || !envelope.message_id.empty() || !envelope.entity_type.empty())) {
        std::abort();
    }
    // An accepted envelope's body came out of the payload: it cannot be longer.
    if (envelope.error.empty() && envelope.body.size() > payload.size()) std::abort();
    return 0;
}
