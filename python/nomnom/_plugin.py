import ctypes
import json
import logging
import math
import os
import threading
from typing import Any, Dict, Iterable, Iterator, List, NamedTuple, Optional, Tuple, Union

from . import _abi

_log = logging.getLogger("nomnom.plugin")
_LOG_LEVELS = {1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING, 4: logging.ERROR}
_ERROR_CAPACITY = 2048


class PluginError(Exception):
    """The plugin cannot be loaded or created (as nomnom-host would refuse it)."""


class Invalid(Exception):
    """The message can never be parsed: the plugin's reason, or the row check that refused it."""


class Retry(Exception):
    """The plugin asked for the message to be tried again later."""


class Fatal(Exception):
    """The plugin says it cannot go on; the host stops it."""


class Column(NamedTuple):
    name: str
    type: str  # "i64", "f64", "bool", "text" or "json"
    nullable: bool


class Table(NamedTuple):
    name: str
    columns: Tuple[Column, ...]
    conflict_keys: Tuple[str, ...]
    # Where nomnom-host sends its rows, as the plugin declares it: "store", "publish" or "both"
    # (worker.toml may override it).
    output: str = "store"


class Result(NamedTuple):
    """One message of parse_many: its number (from 1), its rows, or the error that refused it."""
    number: int
    rows: Optional[Dict[str, List[Dict[str, Any]]]]
    error: Optional[Exception]


def _text(pointer: Optional[bytes]) -> str:
    return pointer.decode() if pointer else ""


def _holds(descriptor: _abi.Descriptor, field: str) -> bool:
    # A descriptor built against an older minor ends before the fields added after it.
    layout = getattr(_abi.Descriptor, field)
    return layout.offset + layout.size <= descriptor.struct_size


def _not_json(constant: str):
    # Python reads NaN and Infinity, which JSON (and the host) do not have.
    raise ValueError(f"{constant} is not JSON")


class _Rows:
    """What one parse call writes, checked as the host's RowBatch checks it."""

    def __init__(self, tables: Tuple[Table, ...]):
        self.tables = tables
        self.rows: Dict[str, List[Dict[str, Any]]] = {t.name: [] for t in tables}
        self.error = ""
        self.open: Optional[int] = None
        self.cells: List[Any] = []
        self.set: List[bool] = []

    def refuse(self, reason: str) -> int:
        if not self.error:
            self.error = reason
        return 1

    def begin_row(self, table: int) -> int:
        if table >= len(self.tables):
            return self.refuse(f"begin_row: table index {table} out of range")
        if self.open is not None:
            return self.refuse("begin_row: previous row was not ended")
        self.open = table
        count = len(self.tables[table].columns)
        self.cells = [None] * count
        self.set = [False] * count
        return 0

    def _column(self, column: int, kind: int, what: str) -> Optional[Column]:
        if self.open is None:
            self.refuse(f"{what}: no row begun")
            return None
        table = self.tables[self.open]
        if column >= len(table.columns):
            self.refuse(f"{what}: column index {column} out of range for table '{table.name}'")
            return None
        declared = table.columns[column]
        declared_kind = _TYPE_CODES[declared.type]
        if kind and declared_kind != kind and not (
                kind == _abi.TYPE_TEXT and declared_kind == _abi.TYPE_JSON):
            self.refuse(f"column '{declared.name}' of table '{table.name}' is {declared.type}, "
                        f"plugin wrote {_abi.TYPE_NAMES[kind]}")
            return None
        return declared

    def put(self, column: int, kind: int, value: Any) -> int:
        declared = self._column(column, kind, "put")
        if declared is None:
            return 1
        if kind == _abi.TYPE_F64 and not math.isfinite(value):
            name = "NaN" if math.isnan(value) else ("+Infinity" if value > 0 else "-Infinity")
            return self.refuse(f"column '{declared.name}' of table "
                               f"'{self.tables[self.open].name}' is f64, plugin wrote {name}")
        if declared.type == "json":
            try:
                value = json.loads(value, parse_constant=_not_json)
            except ValueError as e:
                # As the host's row checks refuse it.
                return self.refuse(f"column '{declared.name}' of table "
                                   f"'{self.tables[self.open].name}' is json, plugin wrote "
                                   f"text that is not JSON ({e})")
        self.cells[column] = value
        self.set[column] = True
        return 0

    def not_utf8(self, column: int, offset: int, length: int) -> int:
        declared = self._column(column, _abi.TYPE_TEXT, "put")
        if declared is None:
            return 1
        return self.refuse(f"column '{declared.name}' of table "
                           f"'{self.tables[self.open].name}' is {declared.type}, plugin wrote "
                           f"text that is not UTF-8 (byte {offset} of {length})")

    def put_null(self, column: int) -> int:
        declared = self._column(column, 0, "put_null")
        if declared is None:
            return 1
        if not declared.nullable:
            return self.refuse(f"column '{declared.name}' of table "
                               f"'{self.tables[self.open].name}' is NOT NULL, plugin wrote null")
        self.cells[column] = None
        self.set[column] = True
        return 0

    def end_row(self) -> int:
        if self.open is None:
            return self.refuse("end_row: no row begun")
        table = self.tables[self.open]
        for column, was_set in zip(table.columns, self.set):
            if not was_set and not column.nullable:
                return self.refuse(f"column '{column.name}' of table '{table.name}' is NOT NULL "
                                   "but was not set")
        self.rows[table.name].append(
            {column.name: cell for column, cell in zip(table.columns, self.cells)})
        self.open = None
        return 0

    def finish(self) -> None:
        if self.open is not None:
            self.refuse(f"parse returned with a row of table '{self.tables[self.open].name}' "
                        "begun but not ended")


_TYPE_CODES = {name: code for code, name in _abi.TYPE_NAMES.items()}


class Plugin:
    """A plugin library (.so) loaded as nomnom-host loads it.

    Instances are created on first use, one per thread unless the plugin declares a shared
    instance, and destroyed by close() (or leaving a `with` block): the library is never
    unloaded under a live instance.
    """

    def __init__(self, path: Union[str, os.PathLike], config: Optional[dict] = None):
        self.path = os.fspath(path)
        self._config = json.dumps(config if config is not None else {}).encode()
        try:
            self._library = ctypes.CDLL(os.path.abspath(self.path), mode=os.RTLD_LOCAL)
            entry = _abi.Entry((_abi.ENTRY_SYMBOL, self._library))
        except (OSError, AttributeError) as e:
            raise PluginError(f"{self.path}: {e}") from None
        pointer = entry()
        if not pointer:
            raise PluginError(f"{self.path}: {_abi.ENTRY_SYMBOL}() returned NULL")
        self._descriptor = pointer.contents
        d = self._descriptor
        if d.abi_major != _abi.ABI_MAJOR:
            raise PluginError(f"{self.path}: plugin ABI major {d.abi_major}, this module speaks "
                              f"{_abi.ABI_MAJOR}")
        # The 1.0 layout ends where the first field added after it starts.
        layout_1_0 = _abi.Descriptor.table_outputs.offset
        if d.struct_size < layout_1_0:
            raise PluginError(f"{self.path}: descriptor of {d.struct_size} bytes, ABI 1.0 has "
                              f"{layout_1_0}")
        self.name = _text(d.name)
        self.version = _text(d.version)
        self.subjects = tuple(_text(d.subjects[i]) for i in range(d.subject_count))
        has_outputs = _holds(d, "table_outputs") and bool(d.table_outputs)
        self.tables = tuple(
            self._table(d.tables[t], d.table_outputs[t] if has_outputs else 0)
            for t in range(d.table_count))
        # As nomnom-host picks the script for its database: the list's entry (ABI 1.1) over the
        # 1.0 fields. A dialect missing here gets DDL the host derives from the tables.
        self.ddl: Dict[str, str] = {
            dialect: _text(sql)
            for dialect, sql in (("postgresql", d.ddl_postgresql), ("sqlite", d.ddl_sqlite))
            if sql}
        if _holds(d, "ddl_count") and d.ddl:
            self.ddl.update((_text(d.ddl[i].dialect), _text(d.ddl[i].sql))
                            for i in range(d.ddl_count))
        self.threading = "shared" if d.threading == _abi.THREADING_SHARED_INSTANCE else \
            "per-thread"
        self._sinks: Dict[int, _Rows] = {}
        self._sinks_lock = threading.Lock()
        self._next_sink = 1
        self._instances: List[int] = []
        self._instances_lock = threading.Lock()
        self._local = threading.local()
        self._shared: Optional[int] = None
        self._closed = False
        # Parses under way: close() waits for them before destroying instances.
        self._active = 0
        self._idle = threading.Condition()
        self._host_api = self._make_host_api()

    @staticmethod
    def _table(table: _abi.Table, output: int) -> Table:
        columns = tuple(Column(_text(table.columns[c].name),
                               _abi.TYPE_NAMES.get(table.columns[c].type, "text"),
                               bool(table.columns[c].nullable))
                        for c in range(table.column_count))
        keys = tuple(_text(table.conflict_keys[k]) for k in range(table.conflict_key_count))
        return Table(_text(table.name), columns, keys, _abi.OUTPUT_NAMES.get(output, "store"))

    def _make_host_api(self) -> _abi.HostApi:
        def row_call(kind, call):
            # An exception must not cross into C (ctypes would print it and return garbage):
            # it refuses the message instead.
            def checked(handle, *args):
                rows = self._sink(handle)
                if rows is None:
                    return 1
                try:
                    return call(rows, *args)
                except Exception as e:  # noqa: BLE001 - becomes the message's refusal
                    return rows.refuse(f"{kind}: {type(e).__name__}: {e}")
            return checked

        def put_text(rows, column, data, length):
            if not data and length:
                return rows.refuse("put_text: NULL data with non-zero length")
            raw = ctypes.string_at(data, length)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                return rows.not_utf8(column, e.start, length)
            return rows.put(column, _abi.TYPE_TEXT, text)

        # Kept on self: ctypes callbacks must outlive every call the plugin may make.
        self._callbacks = (
            _abi.BeginRow(row_call("begin_row", lambda r, t: r.begin_row(t))),
            _abi.PutNull(row_call("put_null", lambda r, c: r.put_null(c))),
            _abi.PutI64(row_call("put_i64", lambda r, c, v: r.put(c, _abi.TYPE_I64, int(v)))),
            _abi.PutF64(row_call("put_f64", lambda r, c, v: r.put(c, _abi.TYPE_F64, float(v)))),
            _abi.PutBool(row_call("put_bool", lambda r, c, v: r.put(c, _abi.TYPE_BOOL, bool(v)))),
            _abi.PutText(row_call("put_text", put_text)),
            _abi.EndRow(row_call("end_row", lambda r: r.end_row())),
            _abi.Log(self._log),
            # What a persist callback reads and runs: persist runs inside nomnom-host only.
            _abi.RowCount(lambda rows, table: 0),
            _abi.GetValue(lambda rows, table, row, column, out: 1),
            _abi.DbDialect(lambda db: b"none"),
            _abi.DbExecute(lambda db, sql, params, count, error: _abi.FATAL),
        )
        api = _abi.HostApi(ctypes.sizeof(_abi.HostApi), _abi.ABI_MAJOR, _abi.ABI_MINOR,
                           *self._callbacks)
        return api

    def _log(self, level: int, plugin: Optional[bytes], message: Optional[bytes]) -> None:
        _log.log(_LOG_LEVELS.get(level, logging.INFO), "[%s] %s", _text(plugin) or self.name,
                 _text(message))

    def _sink(self, handle: Optional[int]) -> Optional[_Rows]:
        with self._sinks_lock:
            return self._sinks.get(handle or 0)

    def _create(self) -> int:
        buffer = ctypes.create_string_buffer(_ERROR_CAPACITY)
        error = _abi.Error(ctypes.cast(buffer, ctypes.c_char_p), _ERROR_CAPACITY)
        instance = self._descriptor.create(ctypes.byref(self._host_api), self._config,
                                           ctypes.byref(error))
        if not instance:
            raise PluginError(f"{self.name}: create failed: "
                              f"{buffer.value.decode(errors='replace') or '(no reason given)'}")
        with self._instances_lock:
            self._instances.append(instance)
        return instance

    def _instance(self) -> int:
        if self.threading == "shared":
            with self._instances_lock:
                shared = self._shared
            if shared is None:
                shared = self._create()
                with self._instances_lock:
                    if self._shared is None:
                        self._shared = shared
                    else:
                        self._instances.remove(shared)
                        self._descriptor.destroy(shared)
                        shared = self._shared
            return shared
        instance = getattr(self._local, "instance", None)
        if instance is None:
            instance = self._create()
            self._local.instance = instance
        return instance

    def parse(self, payload: Union[bytes, str], subject: Optional[str] = None,
              message_id: str = "", entity_type: str = "",
              headers: Optional[Dict[str, str]] = None, stream_sequence: int = 1,
              delivery_count: int = 1) -> Dict[str, List[Dict[str, Any]]]:
        """The rows of one message, per table: {"table": [{"column": value, ...}, ...]}.

        Raises Invalid (the plugin's or the row checks' reason), Retry or Fatal.
        """
        with self._idle:
            if self._closed:
                raise PluginError(f"{self.name}: closed")
            self._active += 1
        try:
            return self._parse(payload, subject, message_id, entity_type, headers,
                               stream_sequence, delivery_count)
        finally:
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    def _parse(self, payload, subject, message_id, entity_type, headers, stream_sequence,
               delivery_count) -> Dict[str, List[Dict[str, Any]]]:
        instance = self._instance()
        data = payload.encode() if isinstance(payload, str) else bytes(payload)
        subject_bytes = (subject if subject is not None else self._default_subject()).encode()
        id_bytes = message_id.encode()
        entity_bytes = entity_type.encode()
        header_items = [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
        keep = [data, subject_bytes, id_bytes, entity_bytes, header_items]
        header_array = (_abi.Header * max(1, len(header_items)))(
            *[_abi.Header(_str(k), _str(v)) for k, v in header_items])
        message = _abi.Message(ctypes.sizeof(_abi.Message), _str(data), _str(subject_bytes),
                               _str(id_bytes), _str(entity_bytes), stream_sequence,
                               delivery_count, header_array, len(header_items))
        rows = _Rows(self.tables)
        with self._sinks_lock:
            handle = self._next_sink
            self._next_sink += 1
            self._sinks[handle] = rows
        buffer = ctypes.create_string_buffer(_ERROR_CAPACITY)
        error = _abi.Error(ctypes.cast(buffer, ctypes.c_char_p), _ERROR_CAPACITY)
        try:
            status = self._descriptor.parse(instance, ctypes.byref(message), handle,
                                            ctypes.byref(error))
        finally:
            with self._sinks_lock:
                del self._sinks[handle]
        del keep
        reason = buffer.value.decode(errors="replace") or "(the plugin gave no reason)"
        if status == _abi.OK:
            rows.finish()
            if rows.error:
                raise Invalid(rows.error)
            return rows.rows
        if status == _abi.INVALID:
            raise Invalid(reason)
        if status == _abi.RETRY:
            raise Retry(reason)
        if status == _abi.FATAL:
            raise Fatal(reason)
        raise Fatal(f"parse returned unknown status {status}")

    def parse_many(self, payloads: Iterable[Union[bytes, str]],
                   subject: Optional[str] = None) -> Iterator[Result]:
        """Parses a stream of messages; a refused one is a Result with its error. A Fatal stops
        the stream (raised), as it stops the plugin in the host."""
        for number, payload in enumerate(payloads, start=1):
            try:
                yield Result(number, self.parse(payload, subject=subject,
                                                stream_sequence=number), None)
            except (Invalid, Retry) as e:
                yield Result(number, None, e)

    def to_pandas(self, payloads: Iterable[Union[bytes, str]], subject: Optional[str] = None):
        """A pandas DataFrame per table of the rows of every message that parsed."""
        try:
            import pandas
        except ImportError:
            raise ImportError("to_pandas needs pandas (pip install pandas)") from None
        rows: Dict[str, List[Dict[str, Any]]] = {t.name: [] for t in self.tables}
        for result in self.parse_many(payloads, subject=subject):
            for table, table_rows in (result.rows or {}).items():
                rows[table].extend(table_rows)
        return {t.name: pandas.DataFrame(rows[t.name], columns=[c.name for c in t.columns])
                for t in self.tables}

    def _default_subject(self) -> str:
        if not self.subjects:
            raise ValueError(f"{self.name} declares no subject: pass subject=")
        return self.subjects[0].replace("*", "x").replace(">", "x")

    def close(self) -> None:
        """Destroys every instance; the plugin cannot parse afterwards."""
        with self._idle:
            if self._closed:
                return
            self._closed = True
            while self._active:
                self._idle.wait()
        with self._instances_lock:
            instances, self._instances = self._instances, []
        for instance in instances:
            self._descriptor.destroy(instance)

    def __del__(self) -> None:
        # The instances hold the host API table, whose callbacks die with this object.
        if getattr(self, "_idle", None) is not None:
            self.close()

    def __enter__(self) -> "Plugin":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"nomnom.Plugin({self.name!r} {self.version}, {self.path!r})"


def _str(data: bytes) -> _abi.Str:
    return _abi.Str(ctypes.cast(ctypes.c_char_p(data), ctypes.POINTER(ctypes.c_char)), len(data))
