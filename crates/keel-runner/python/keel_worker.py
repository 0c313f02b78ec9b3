"""Keel's Python worker: runs one model's code for the Keel runner.

Keel starts this file as `python -u keel_worker.py` in the job's working
directory and speaks protocol version 1 with it over stdin and a private copy
of stdout (see docs/worker-protocol.md). The model's own output (print,
logging) goes to stderr, which Keel keeps as the job's log. Only the standard
library, pyarrow and pandas are used.
"""

import datetime
import decimal
import importlib
import inspect
import json
import math
import os
import struct
import sys
import traceback

PROTOCOL = 1
HEADER = struct.Struct("<BQI")


class Channel:
    """Reads and writes protocol frames on the worker's private pipes."""

    def __init__(self, rfd, wfd):
        self.rfile = os.fdopen(rfd, "rb", buffering=1 << 16)
        self.wfile = os.fdopen(wfd, "wb", buffering=0)

    def read(self):
        head = self.rfile.read(HEADER.size)
        if len(head) < HEADER.size:
            return None
        kind, seq, length = HEADER.unpack(head)
        payload = self.rfile.read(length) if length else b""
        if len(payload) < length:
            return None
        return chr(kind), seq, payload

    def send(self, kind, seq=0, payload=b""):
        length = len(payload) if not isinstance(payload, memoryview) else payload.nbytes
        if length > 0xFFFFFFFF:
            raise OverflowError("a protocol frame cannot carry more than 4 GiB")
        self.wfile.write(HEADER.pack(ord(kind), seq, length))
        if length:
            self.wfile.write(payload)

    def send_json(self, kind, obj, seq=0):
        self.send(kind, seq, json.dumps(obj, allow_nan=False).encode("utf-8"))


class ModelError(Exception):
    """An error to report to Keel as an `X` frame, then stop."""

    def __init__(self, phase, exc=None, row=None, type_=None, message=None):
        super().__init__(message)
        self.phase = phase
        self.row = row
        if exc is not None:
            self.type = type(exc).__name__
            self.message = str(exc)
            self.traceback = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        else:
            self.type = type_ or "Error"
            self.message = message or ""
            self.traceback = None

    def to_json(self):
        return {
            "phase": self.phase,
            "type": self.type,
            "message": self.message,
            "traceback": self.traceback,
            "row": self.row,
        }


def json_safe(value):
    """Turns numpy, pandas and other values into plain JSON-able Python."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v) for v in value]
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return json_safe(float(value))
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    module = type(value).__module__ or ""
    if module.startswith("pandas"):
        if hasattr(value, "to_dict") and hasattr(value, "columns"):
            return json_safe(value.to_dict(orient="records"))
        if hasattr(value, "tolist"):
            return json_safe(value.tolist())
        if hasattr(value, "isoformat"):
            return value.isoformat()
    if hasattr(value, "tolist"):
        # numpy scalars and arrays (and anything shaped like them).
        return json_safe(value.tolist())
    if hasattr(value, "item"):
        return json_safe(value.item())
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (ImportError, TypeError, ValueError):
        pass
    return str(value)


def call_with_optional_arg(fn, arg):
    """Calls `fn(arg)` when fn takes a parameter, else `fn()`."""
    try:
        params = inspect.signature(fn).parameters.values()
        takes = any(
            p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in params
        )
    except (TypeError, ValueError):
        takes = False
    return fn(arg) if takes else fn()


_ROW_MAKERS = {}


def row_maker(names):
    """A function building one record dict from one value per column.

    A generated dict literal with constant keys is about twice as fast as
    dict(zip(names, values)), and building dicts is most of the per-record cost.
    Keys are written with repr(), which always yields a string literal equal to
    the name, so no column name can inject code.
    """
    key = tuple(names)
    maker = _ROW_MAKERS.get(key)
    if maker is None:
        params = ", ".join(f"a{i}" for i in range(len(names)))
        body = ", ".join(f"{name!r}: a{i}" for i, name in enumerate(names))
        maker = eval(compile(f"lambda {params}: {{{body}}}", "<keel-row>", "eval"), {})
        _ROW_MAKERS[key] = maker
    return maker


def batch_rows(batch, pa):
    """Converts a record batch to a list of dicts, quickly for plain numeric columns."""
    names = batch.schema.names
    if not names:
        return [{} for _ in range(batch.num_rows)]
    cols = []
    for col in batch.columns:
        t = col.type
        if col.null_count == 0 and (
            pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
        ):
            cols.append(col.to_numpy(zero_copy_only=False).tolist())
        else:
            cols.append(col.to_pylist())
    return list(map(row_maker(names), *cols))


def rows_to_table(rows, pa, phase):
    """Converts a list of dicts to an Arrow table, saying which value failed if it cannot."""
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ModelError(
                phase,
                type_="TypeError",
                message=f"output record {i} is a {type(row).__name__}, not a dict; "
                "the score function must return or yield dicts or lists of dicts",
            )
    try:
        return pa.Table.from_pylist(rows)
    except Exception as exc:
        names = list(rows[0].keys()) if rows else []
        for name in names:
            values = [r.get(name) for r in rows]
            try:
                pa.array(values)
            except Exception:
                first = next((v for v in values if v is not None), None)
                for i, v in enumerate(values):
                    if v is not None and type(v) is not type(first):
                        raise ModelError(
                            phase,
                            type_="OutputConversionError",
                            message=f"the value {v!r} (a {type(v).__name__}) in output field "
                            f"'{name}' of output record {i} cannot be stored in the same column "
                            f"as the earlier {type(first).__name__} values ({exc}); make every "
                            f"record's '{name}' the same type",
                        ) from None
                raise ModelError(
                    phase,
                    type_="OutputConversionError",
                    message=f"the values of output field '{name}' cannot be converted to a "
                    f"table column: {exc}",
                ) from None
        raise ModelError(
            phase,
            type_="OutputConversionError",
            message=f"the score output cannot be converted to a table: {exc}",
        ) from None


def table_to_ipc(table, pa):
    """Serializes a table as one Arrow IPC stream."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return memoryview(sink.getvalue())


def score_records(fn, batch, pa):
    """Per-record mode: calls fn on each record and collects every result in order."""
    rows = batch_rows(batch, pa)
    out = []
    append = out.append
    extend = out.extend
    i = 0
    try:
        for i, rec in enumerate(rows):
            res = fn(rec)
            t = type(res)
            if t is dict:
                append(res)
            elif res is None:
                continue
            elif t is list:
                extend(res)
            elif inspect.isgenerator(res) or hasattr(res, "__next__"):
                for item in res:
                    if type(item) is list:
                        extend(item)
                    elif item is not None:
                        append(item)
            else:
                append(res)
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError("score", exc, row=i) from None
    return out


def collect_frames(res, pd):
    """Flattens what a batch/metrics function returned or yielded into a list of pieces."""
    if res is None:
        return []
    if isinstance(res, (dict, list, pd.DataFrame)):
        return [res]
    if inspect.isgenerator(res) or hasattr(res, "__next__"):
        return [item for item in res if item is not None]
    return [res]


def score_dataframe(fn, batch, pa, pd):
    """Batch mode: calls fn once with the batch as a DataFrame."""
    try:
        pieces = collect_frames(fn(batch.to_pandas()), pd)
    except Exception as exc:
        raise ModelError("score", exc) from None
    if all(isinstance(p, pd.DataFrame) for p in pieces):
        pieces = [p for p in pieces if len(p.columns) > 0]
        if not pieces:
            return None
        df = pieces[0] if len(pieces) == 1 else pd.concat(pieces, ignore_index=True)
        try:
            return pa.Table.from_pandas(df, preserve_index=False)
        except Exception as exc:
            raise ModelError(
                "score",
                type_="OutputConversionError",
                message=f"the DataFrame returned by the score function cannot be converted to a table: {exc}",
            ) from None
    rows = []
    for p in pieces:
        if isinstance(p, pd.DataFrame):
            rows.extend(p.to_dict(orient="records"))
        elif isinstance(p, list):
            rows.extend(p)
        else:
            rows.append(p)
    return rows_to_table(rows, pa, "score") if rows else None


def all_input(chan, pa, pd):
    """Reads every B frame until E and returns the input as one DataFrame."""
    tables = []
    while True:
        frame = chan.read()
        if frame is None:
            raise SystemExit(3)
        kind, _seq, payload = frame
        if kind == "E":
            break
        if kind == "B":
            tables.append(pa.ipc.open_stream(payload).read_all())
    if not tables:
        return pd.DataFrame()
    return pa.concat_tables(tables).to_pandas()


def main():
    # The protocol uses private copies of fds 0 and 1; the model's stdin is
    # /dev/null and its stdout is our stderr, so nothing it prints or reads can
    # touch the data channel.
    rfd = os.dup(0)
    wfd = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    chan = Channel(rfd, wfd)

    frame = chan.read()
    if frame is None or frame[0] != "H":
        return 3
    hello = json.loads(frame[2])
    if hello.get("protocol") != PROTOCOL:
        err = ModelError(
            "setup",
            type_="ProtocolMismatch",
            message=f"the worker speaks protocol {PROTOCOL} but Keel sent protocol {hello.get('protocol')}",
        )
        chan.send_json("X", err.to_json())
        return 1
    mode = hello.get("mode")
    funcs = hello.get("functions") or {}

    try:
        import pyarrow as pa
        import pyarrow.ipc  # noqa: F401

        pd = None
        if mode != "score" or hello.get("score_batch"):
            import pandas as pd
    except Exception as exc:
        chan.send_json("X", ModelError("setup", exc).to_json())
        return 1

    try:
        module = importlib.import_module(hello["module"])
    except BaseException as exc:
        chan.send_json("X", ModelError("import", exc).to_json())
        return 1

    def lookup(role):
        name = funcs.get(role)
        if not name:
            return None
        fn = getattr(module, name, None)
        if not callable(fn):
            raise ModelError(
                "import",
                type_="AttributeError",
                message=f"module '{hello['module']}' has no function '{name}' (the {role} function)",
            )
        return fn

    try:
        init_fn = lookup("init")
        main_fn = lookup({"score": "score", "metrics": "metrics", "train": "train"}.get(mode, "score"))
        if main_fn is None:
            raise ModelError(
                "import",
                type_="AttributeError",
                message=f"no {mode} function was named for module '{hello['module']}'",
            )
    except ModelError as err:
        chan.send_json("X", err.to_json())
        return 1

    if init_fn is not None:
        try:
            call_with_optional_arg(init_fn, hello.get("job"))
        except BaseException as exc:
            chan.send_json("X", ModelError("init", exc).to_json())
            return 1

    chan.send_json(
        "R",
        {"protocol": PROTOCOL, "python": sys.version.split()[0], "pid": os.getpid()},
    )

    try:
        if mode == "score":
            batch_mode = bool(hello.get("score_batch"))
            while True:
                frame = chan.read()
                if frame is None:
                    return 3
                kind, seq, payload = frame
                if kind == "E":
                    break
                if kind != "B":
                    continue
                batch = pa.ipc.open_stream(payload).read_next_batch()
                if batch_mode:
                    table = score_dataframe(main_fn, batch, pa, pd)
                else:
                    rows = score_records(main_fn, batch, pa)
                    table = rows_to_table(rows, pa, "score") if rows else None
                if table is None or table.num_rows == 0:
                    chan.send("O", seq)
                else:
                    chan.send("O", seq, table_to_ipc(table, pa))
        elif mode == "metrics":
            df = all_input(chan, pa, pd)
            try:
                merged = {}
                for piece in collect_frames(main_fn(df), pd):
                    if not isinstance(piece, dict):
                        raise TypeError(
                            f"the metrics function returned or yielded a {type(piece).__name__}; "
                            "it must return or yield dicts"
                        )
                    merged.update(piece)
                result = json_safe(merged)
            except Exception as exc:
                raise ModelError("metrics", exc) from None
            chan.send_json("J", result)
        elif mode == "train":
            os.makedirs("outputDir", exist_ok=True)
            df = all_input(chan, pa, pd)
            try:
                res = main_fn(df)
                if inspect.isgenerator(res):
                    for _ in res:
                        pass
            except Exception as exc:
                raise ModelError("train", exc) from None
    except ModelError as err:
        chan.send_json("X", err.to_json())
        return 1
    chan.send("D")
    return 0


if __name__ == "__main__":
    code = main()
    # os._exit skips waiting for threads the model may have left running.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
