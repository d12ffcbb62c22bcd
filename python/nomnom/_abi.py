"""The C ABI of sdk/include/nomnom/plugin.h (major 1), as ctypes declarations."""
import ctypes

ABI_MAJOR = 1
ABI_MINOR = 0
ENTRY_SYMBOL = "nomnom_plugin_v1"

OK, INVALID, RETRY, FATAL = 0, 1, 2, 3
TYPE_I64, TYPE_F64, TYPE_BOOL, TYPE_TEXT, TYPE_JSON = 1, 2, 3, 4, 5
TYPE_NAMES = {TYPE_I64: "i64", TYPE_F64: "f64", TYPE_BOOL: "bool", TYPE_TEXT: "text",
              TYPE_JSON: "json"}
THREADING_INSTANCE_PER_THREAD = 1
THREADING_SHARED_INSTANCE = 2


class Column(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("name", ctypes.c_char_p),
                ("type", ctypes.c_uint32), ("nullable", ctypes.c_uint32)]


class Table(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("name", ctypes.c_char_p),
                ("columns", ctypes.POINTER(Column)), ("column_count", ctypes.c_uint32),
                ("conflict_keys", ctypes.POINTER(ctypes.c_char_p)),
                ("conflict_key_count", ctypes.c_uint32)]


class Str(ctypes.Structure):
    _fields_ = [("data", ctypes.POINTER(ctypes.c_char)), ("len", ctypes.c_size_t)]


class Header(ctypes.Structure):
    _fields_ = [("key", Str), ("value", Str)]


class Message(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("payload", Str), ("subject", Str),
                ("message_id", Str), ("entity_type", Str), ("stream_sequence", ctypes.c_uint64),
                ("delivery_count", ctypes.c_uint64), ("headers", ctypes.POINTER(Header)),
                ("header_count", ctypes.c_uint32)]


class Error(ctypes.Structure):
    _fields_ = [("message", ctypes.c_char_p), ("capacity", ctypes.c_size_t)]


class Value(ctypes.Structure):
    _fields_ = [("type", ctypes.c_uint32), ("is_null", ctypes.c_uint32), ("i64", ctypes.c_int64),
                ("f64", ctypes.c_double), ("text", Str)]


Sink = ctypes.c_void_p
BeginRow = ctypes.CFUNCTYPE(ctypes.c_int, Sink, ctypes.c_uint32)
PutNull = ctypes.CFUNCTYPE(ctypes.c_int, Sink, ctypes.c_uint32)
PutI64 = ctypes.CFUNCTYPE(ctypes.c_int, Sink, ctypes.c_uint32, ctypes.c_int64)
PutF64 = ctypes.CFUNCTYPE(ctypes.c_int, Sink, ctypes.c_uint32, ctypes.c_double)
PutBool = ctypes.CFUNCTYPE(ctypes.c_int, Sink, ctypes.c_uint32, ctypes.c_int)
PutText = ctypes.CFUNCTYPE(ctypes.c_int, Sink, ctypes.c_uint32, ctypes.POINTER(ctypes.c_char),
                           ctypes.c_size_t)
EndRow = ctypes.CFUNCTYPE(ctypes.c_int, Sink)
Log = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p)
RowCount = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p, ctypes.c_uint32)
GetValue = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint64,
                            ctypes.c_uint32, ctypes.POINTER(Value))
DbDialect = ctypes.CFUNCTYPE(ctypes.c_char_p, ctypes.c_void_p)
DbExecute = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p,
                             ctypes.POINTER(Value), ctypes.c_uint32, ctypes.POINTER(Error))


class HostApi(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("abi_major", ctypes.c_uint32),
                ("abi_minor", ctypes.c_uint32), ("begin_row", BeginRow), ("put_null", PutNull),
                ("put_i64", PutI64), ("put_f64", PutF64), ("put_bool", PutBool),
                ("put_text", PutText), ("end_row", EndRow), ("log", Log),
                ("row_count", RowCount), ("get_value", GetValue), ("db_dialect", DbDialect),
                ("db_execute", DbExecute)]


class Ddl(ctypes.Structure):
    _fields_ = [("dialect", ctypes.c_char_p), ("sql", ctypes.c_char_p)]


Create = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.POINTER(HostApi), ctypes.c_char_p,
                          ctypes.POINTER(Error))
Destroy = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
Parse = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(Message), Sink,
                         ctypes.POINTER(Error))


class Descriptor(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("abi_major", ctypes.c_uint32),
                ("abi_minor", ctypes.c_uint32), ("name", ctypes.c_char_p),
                ("version", ctypes.c_char_p), ("subjects", ctypes.POINTER(ctypes.c_char_p)),
                ("subject_count", ctypes.c_uint32), ("tables", ctypes.POINTER(Table)),
                ("table_count", ctypes.c_uint32), ("ddl_postgresql", ctypes.c_char_p),
                ("ddl_sqlite", ctypes.c_char_p), ("threading", ctypes.c_uint32),
                ("create", Create), ("destroy", Destroy), ("parse", Parse),
                ("persist", ctypes.c_void_p),
                # ABI 1.1: read only when struct_size covers them (a 1.0 plugin's ends before).
                ("table_outputs", ctypes.POINTER(ctypes.c_uint32)), ("ddl", ctypes.POINTER(Ddl)),
                ("ddl_count", ctypes.c_uint32)]

OUTPUT_NAMES = {1: "store", 2: "publish", 3: "both"}


Entry = ctypes.CFUNCTYPE(ctypes.POINTER(Descriptor))
