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
import time
import traceback

PROTOCOL = 1
HEADER = struct.Struct("<BQI")

# CPU seconds spent calling the model's function, reported with D so the
# job's log can say how much of the work was the model's.
FUNCTION_CPU = [0.0]
# The stderr line ending each run's log (Keel does not show it).
END_OF_RUN = b"\x1ekeel-end-of-run\n"
# The working directory of the current run, as a real path.
RUN_DIR = [""]


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


def positional_params(fn):
    """How many positional arguments fn needs and takes at most (None: any number)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 0, None
    required, most = 0, 0
    for p in params:
        if p.kind == p.VAR_POSITIONAL:
            most = None
        elif p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            if most is not None:
                most += 1
            if p.default is p.empty:
                required += 1
    return required, most


def call_init(fn, job):
    """Calls init() or, when init takes a parameter, init({"rawJson": job}) as
    ModelOp Center does: the job document as a JSON string."""
    _required, most = positional_params(fn)
    if most == 0:
        return fn()
    return fn({"rawJson": json.dumps(job)})


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


# Schema metadata marking a table of bare values (one column): JSON-lines
# output writes each row's value as the line, as ModelOp does.
VALUES_META = {b"keel.values": b"1"}
# Field metadata marking a column of mixed-type values kept as text: strings
# as they are, anything else as JSON; Keel reads each cell back as a value.
JSON_TEXT_META = {b"keel.json": b"1"}


def plain(value):
    """A numpy or pandas scalar as the Python value it holds."""
    if value is None or type(value) in (bool, int, float, str):
        return value
    item = getattr(value, "item", None)
    if item is not None and getattr(value, "ndim", 0) == 0:
        try:
            return item()
        except (TypeError, ValueError):
            pass
    return value


def values_to_table(values, pa, phase, column):
    """One column of bare values, named `column`."""
    values = [plain(v) for v in values]
    try:
        array = pa.array(values)
    except Exception:
        # Values of several types are kept as text, as in rows_to_table.
        array = pa.array([as_text(v) for v in values], type=pa.string())
        field = pa.field(column, pa.string(), metadata=JSON_TEXT_META)
        return pa.Table.from_arrays([array], schema=pa.schema([field], metadata=VALUES_META))
    return pa.table({column: array}).replace_schema_metadata(VALUES_META)


def rows_to_table(rows, pa, phase, column="prediction"):
    """Converts the outputs (dicts, or bare values) to an Arrow table, saying
    which value failed if it cannot."""
    dicts = [isinstance(row, dict) for row in rows]
    if rows and not any(dicts):
        return values_to_table(rows, pa, phase, column)
    if not all(dicts):
        i = dicts.index(False) if dicts[0] else dicts.index(True)
        first = "dicts" if dicts[0] else f"{type(plain(rows[0])).__name__} values"
        raise ModelError(
            phase,
            type_="TypeError",
            message=f"output record {i} is a {type(plain(rows[i])).__name__}, but output record 0 "
            f"and the ones after it are {first}; the score function must return or yield one kind "
            "of output for every record: dicts (records) or bare values (a number, a string)",
        )
    try:
        return pa.Table.from_pylist(rows)
    except Exception:
        pass
    # A column whose values do not share one type (an int where the others are
    # floats is fine; a string is not) is kept as text, so the output schema's
    # check can reject just the records that break it, as Keel's batches of
    # different types meet at text too.
    names = list(rows[0].keys()) if rows else []
    fields, arrays = [], []
    for name in names:
        values = [plain(r.get(name)) for r in rows]
        try:
            array = pa.array(values)
            fields.append(pa.field(name, array.type))
        except Exception:
            array = pa.array([as_text(v) for v in values], type=pa.string())
            fields.append(pa.field(name, pa.string(), metadata=JSON_TEXT_META))
        arrays.append(array)
    try:
        return pa.Table.from_arrays(arrays, schema=pa.schema(fields))
    except Exception as exc:
        raise ModelError(
            phase,
            type_="OutputConversionError",
            message=f"the score output cannot be converted to a table: {exc}",
        ) from None


def as_text(value):
    """A value as the text a mixed-type column holds: strings as they are,
    anything else as its JSON."""
    if value is None or isinstance(value, str):
        return value
    try:
        return json.dumps(json_safe(value), allow_nan=False)
    except (TypeError, ValueError):
        return str(value)


def table_to_ipc(table, pa):
    """Serializes a table as one Arrow IPC stream."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return memoryview(sink.getvalue())


def expand(res, out):
    """Appends what one call returned or yielded to `out`: a dict or a bare
    value is one output; a list, tuple, numpy array, pandas Series or
    DataFrame is one output per element or row; None is none."""
    if res is None:
        return
    t = type(res)
    if t is dict:
        out.append(res)
    elif t is list or t is tuple:
        for item in res:
            if item is not None:
                out.append(item)
    elif t in (float, int, str, bool, bytes):
        out.append(res)
    elif hasattr(res, "to_dict") and hasattr(res, "columns"):
        out.extend(res.to_dict(orient="records"))
    elif hasattr(res, "tolist") and getattr(res, "ndim", 0) > 0:
        # A numpy array or a pandas Series: one output per element.
        out.extend(res.tolist())
    elif inspect.isgenerator(res) or hasattr(res, "__next__"):
        for item in res:
            if type(item) is dict:
                out.append(item)
            else:
                expand(item, out)
    else:
        out.append(plain(res))


def score_records(fn, batch, pa):
    """Per-record mode: calls fn on each record and collects every result in order."""
    rows = batch_rows(batch, pa)
    out = []
    append = out.append
    i = 0
    started = time.process_time()
    try:
        for i, rec in enumerate(rows):
            res = fn(rec)
            # The usual shapes first, so the common case costs one type check.
            if type(res) is dict:
                append(res)
            else:
                expand(res, out)
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError("score", exc, row=i) from None
    finally:
        FUNCTION_CPU[0] += time.process_time() - started
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


def score_dataframe(fn, batch, pa, pd, column):
    """Batch mode: calls fn once with the batch as a DataFrame. It may return
    a DataFrame, records, or one value per row (a Series, an array, a list)."""
    df = batch.to_pandas()
    started = time.process_time()
    try:
        pieces = collect_frames(fn(df), pd)
    except Exception as exc:
        raise ModelError("score", exc) from None
    finally:
        FUNCTION_CPU[0] += time.process_time() - started
    if pieces and all(isinstance(p, pd.Series) or is_array(p) for p in pieces):
        try:
            arrays = [pa.array(p.to_numpy() if isinstance(p, pd.Series) else p) for p in pieces]
            values = arrays[0] if len(arrays) == 1 else pa.concat_arrays(arrays)
        except Exception as exc:
            raise ModelError(
                "score",
                type_="OutputConversionError",
                message=f"the values returned by the score function cannot be stored as one column: {exc}",
            ) from None
        if len(values) == 0:
            return None
        return pa.table({column: values}).replace_schema_metadata(VALUES_META)
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
        expand(p, rows)
    return rows_to_table(rows, pa, "score", column) if rows else None


def is_array(value):
    """True for a one-dimensional numpy array."""
    return type(value).__module__ == "numpy" and getattr(value, "ndim", 0) == 1


def metrics_result(res, pd):
    """What a metrics function returned or yielded, as one JSON document: dicts
    yielded one after another are merged (later keys win), as ModelOp does; a
    returned list of dicts (or several lists) is kept as a list."""
    if isinstance(res, list):
        return res
    pieces = collect_frames(res, pd)
    if all(isinstance(p, dict) for p in pieces):
        merged = {}
        for piece in pieces:
            merged.update(piece)
        return merged
    out = []
    for piece in pieces:
        if isinstance(piece, list):
            out.extend(piece)
        elif isinstance(piece, dict):
            out.append(piece)
        else:
            raise TypeError(
                f"the metrics function returned or yielded a {type(piece).__name__}; "
                "it must return or yield dicts or lists of dicts"
            )
    return out


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


def _host_pid():
    """This process's id as Keel sees it: a worker in its own PID namespace is
    pid 1 there, but /proc is Keel's, so /proc/self names the real one."""
    try:
        return int(os.readlink("/proc/self"))
    except (OSError, ValueError):
        return os.getpid()


def enter_run(hello, reused):
    """Takes the run's own variables (TMPDIR, the run's token, the job's id)
    before any model code runs, so what the model starts carries the run's
    token. A worker Keel kept from an earlier run of the same model
    (`reused`) also moves to the new working directory and drops the model's
    modules, so they are imported afresh and init starts over, while the
    libraries they import stay loaded."""
    workdir = hello.get("workdir")
    if reused and workdir:
        # The last run's directory is usually gone by now, so getcwd() would
        # fail: the worker remembers where it was.
        old = RUN_DIR[0]
        os.chdir(workdir)
        new = os.path.realpath(workdir)
        sys.path[:] = [new if os.path.realpath(p or ".") == old else p for p in sys.path]
        inside = old + os.sep
        for name, mod in list(sys.modules.items()):
            if name == "__main__":
                continue
            path = getattr(mod, "__file__", None)
            if path and os.path.realpath(path).startswith(inside):
                del sys.modules[name]
        importlib.invalidate_caches()
    for key, value in (hello.get("env") or {}).items():
        os.environ[key] = value
    RUN_DIR[0] = os.path.realpath(workdir or os.getcwd())
    if reused:
        import tempfile

        # tempfile caches the directory it found first; the new TMPDIR must count.
        tempfile.tempdir = None


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

    # After D, Keel either closes the pipe (the worker exits) or keeps the
    # worker warm for another run of the same model and sends its H.
    runs = 0
    while True:
        frame = chan.read()
        if frame is None:
            return 0 if runs else 3
        if frame[0] != "H":
            return 3
        hello = json.loads(frame[2])
        try:
            enter_run(hello, runs > 0)
        except Exception as exc:
            chan.send_json("X", ModelError("import", exc).to_json())
            return 1
        code = run(chan, hello)
        if code != 0:
            return code
        runs += 1


def run(chan, hello):
    """One run: import the model, call init, answer R, process the input, answer D."""
    started = os.times()
    FUNCTION_CPU[0] = 0.0
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
            call_init(init_fn, hello.get("job"))
        except BaseException as exc:
            chan.send_json("X", ModelError("init", exc).to_json())
            return 1

    chan.send_json(
        "R",
        {"protocol": PROTOCOL, "python": sys.version.split()[0], "pid": _host_pid()},
    )

    try:
        if mode == "score":
            batch_mode = bool(hello.get("score_batch"))
            column = hello.get("output_column") or "prediction"
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
                    table = score_dataframe(main_fn, batch, pa, pd, column)
                else:
                    rows = score_records(main_fn, batch, pa)
                    table = rows_to_table(rows, pa, "score", column) if rows else None
                if table is None or table.num_rows == 0:
                    chan.send("O", seq)
                else:
                    chan.send("O", seq, table_to_ipc(table, pa))
        elif mode == "metrics":
            # A monitor comparing two data sets takes (baseline, sample):
            # Keel sends the baseline first, ended by its own E frame.
            frames = [all_input(chan, pa, pd) for _ in range(int(hello.get("inputs") or 1))]
            required, most = positional_params(main_fn)
            if len(frames) < required or (most is not None and len(frames) > most):
                names = ", ".join(inspect.signature(main_fn).parameters)
                raise ModelError(
                    "metrics",
                    type_="TypeError",
                    message=f"the metrics function {funcs.get('metrics')}({names}) takes "
                    f"{required if most == required else f'{required} to {most}'} data set(s) but "
                    f"the job has {len(frames)}: a metrics function with two "
                    "parameters needs a baseline (`baseline`), one with one parameter must not "
                    "get one",
                )
            try:
                result = json_safe(metrics_result(main_fn(*frames), pd))
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
    usage = os.times()
    cpu = (usage.user + usage.system) - (started.user + started.system)
    # The end-of-run line tells Keel that every line the run wrote to
    # stderr has been read, so a worker it keeps loses none of them.
    sys.stdout.flush()
    sys.stderr.flush()
    os.write(2, END_OF_RUN)
    chan.send_json("D", {"cpu": cpu, "function_cpu": FUNCTION_CPU[0]})
    return 0




if __name__ == "__main__":
    code = main()
    # os._exit skips waiting for threads the model may have left running.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
