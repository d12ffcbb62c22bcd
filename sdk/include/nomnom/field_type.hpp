/*
 * The field types of entity YAML after normalisation, shared by nomnom-gen (which reads them) and
 * the code it generates (which converts values to them); see generator/README.md for the mapping
 * from YAML type names.
 */
#ifndef NOMNOM_FIELD_TYPE_HPP
#define NOMNOM_FIELD_TYPE_HPP

#include <cstdint>

namespace nomnom::gen {

enum class Type : std::uint8_t {
    String,
    Integer, /* 32-bit signed */
    BigInt,  /* 64-bit signed */
    Float,
    Decimal, /* exact decimal text */
    Boolean,
    Date,     /* YYYY-MM-DD */
    DateTime, /* RFC 3339 */
    Uuid,
    Json, /* any JSON value */
    Object,
    List
};

}  // namespace nomnom::gen

#endif /* NOMNOM_FIELD_TYPE_HPP */
