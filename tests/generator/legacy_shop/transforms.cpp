// C++ transforms of the legacy_shop test project (declared in nomnom.yaml).
#include <nomnom/generated.hpp>

#include <cctype>
#include <string>

namespace nomnom_transforms {

nomnom::gen::Value upper(std::span<const nomnom::gen::Value> inputs,
                         nomnom::gen::Scratch& scratch) {
    if (inputs.empty() || inputs[0].kind != nomnom::gen::Kind::Text) return {};
    std::string text(inputs[0].s);
    for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return nomnom::gen::Value::of_text(scratch.keep(std::move(text)));
}

nomnom::gen::Value tier_of(std::span<const nomnom::gen::Value> inputs, nomnom::gen::Scratch&) {
    if (inputs.empty() || inputs[0].is_null()) return {};
    if (nomnom::gen::numeric(inputs[0]) < 0) throw nomnom::Invalid("tier_of: negative amount");
    return nomnom::gen::Value::of_text(nomnom::gen::numeric(inputs[0]) >= 1000 ? "gold"
                                                                               : "standard");
}

}  // namespace nomnom_transforms
