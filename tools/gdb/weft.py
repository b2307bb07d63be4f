# SPDX-License-Identifier: MIT
"""weft.py - gdb commands for weft's fibers, on a live process or a core.

    (gdb) source tools/gdb/weft.py
    (gdb) weft fibers           every fiber: id, state, worker, stack, name
    (gdb) weft bt ID [ARGS]     a fiber's backtrace (ARGS go to bt: full, -N)
    (gdb) weft workers          every worker: thread, running fiber, queues
    (gdb) weft gcore [FILE]     gcore, with the fiber stacks gcore skips
    (gdb) p *$weft_fiber(ID)    fiber ID's descriptor

ID is a fiber id (hex with 0x, or decimal), a fiber's name, or an
expression (a variable holding an id).

Where things are (the names read are static, so libweft needs its debug
info: the Makefile builds it with -g):
  running_rt (sched/core.c) points at the runtime while weft_run() runs.
  classes[] (lib/stack.c) are the stack classes. ncarved[k] stacks have
    been carved from chunk k of a class, and every fiber lives at the top
    of a carved stack (fiber_of_top(), sched/internal.h): walking them
    finds every fiber, whatever queue or wait holds it. Reaped slots read
    FIBER_FREE.
  A fiber that is not running has ctx.sp pointing at the frame its last
    weft_ctx_switch() pushed (lib/switch.h, lib/switch_aarch64.S), which
    holds the registers it resumes with. gdb cannot write registers on a
    core file, so `weft bt` does not: for the time of one `bt`, an
    unwinder makes those registers the caller of the selected thread's
    innermost frame, and the frames up to that one are cut from the
    output. The thread itself is left as it was.

The layout constants below must follow lib/stack.h and the switch code.
Tested with gdb 13 (Debian 12), x86-64 and aarch64.
"""

import re
import struct

import gdb
from gdb.unwinder import Unwinder, register_unwinder

STACK_MIN_SHIFT = 14            # lib/stack.h: WEFT_STACK_MIN_SHIFT
STACK_INDEX_BITS = 28           # lib/stack.h: WEFT_STACK_INDEX_BITS
STACK_LINK = 16                 # lib/stack.h: WEFT_STACK_LINK
PAGE = 4096                     # lib/stack.h: WEFT_PAGE
GUARD_MADVISE = 0               # enum weft_guard: WEFT_GUARD_MADVISE
RUNQ_SIZE = 256                 # sched/internal.h
LIST_MAX = 1 << 20              # a linked list longer than this is corrupt

# x86-64 (lib/switch.h): at ctx.sp, [resume rip][MXCSR, x87 CW][rbp], then
# the 128-byte red zone the switch skipped; rsp before the switch was
# ctx.sp + 152, which is what the enclosing function's CFI expects.
X86_RIP, X86_RBP, X86_SP_ADJ = 0, 16, 152
# AArch64 (lib/switch_aarch64.S): a 176-byte frame, x29 x30 x19..x28 first.
A64_FRAME = 176


class WeftError(gdb.GdbError):
    pass


def _lookup_all(name):
    """Every static definition of @name, in every objfile."""
    if not hasattr(gdb, "lookup_static_symbols"):
        raise WeftError("weft: weft.py needs gdb 10 or later")
    return list(gdb.lookup_static_symbols(name))


def _state_names():
    names = {0: "free", 1: "runnable", 2: "running", 3: "parked", 4: "done"}
    try:
        for fld in gdb.lookup_type("enum fiber_state").fields():
            names[fld.enumval] = fld.name.replace("FIBER_", "").lower()
    except gdb.error:
        pass
    return names


class Runtime:
    """What one look at the inferior's weft runtime needs."""

    def __init__(self):
        syms = _lookup_all("running_rt")
        if not syms:
            raise WeftError("weft: no symbol running_rt: is libweft linked "
                            "in, with its debug info (-g)?")
        self.rt = None
        for sym in syms:
            try:
                v = sym.value()
                if int(v):
                    self.rt, self.objfile = v.dereference(), sym.symtab.objfile
                    break
            except gdb.MemoryError:
                continue
        if self.rt is None:
            raise WeftError("weft: no runtime running (running_rt is NULL)")
        self.classes = self._classes()
        self.workers = self.rt["workers"]
        self.nworkers = int(self.rt["nworkers"])
        self.worker_size = self.workers.type.target().sizeof
        self.fiber_ptr = self.rt["main"].type
        self.fiber_size = self.fiber_ptr.target().sizeof
        self.states = _state_names()

    def _classes(self):
        for sym in _lookup_all("classes"):
            if sym.symtab.objfile != self.objfile:
                continue
            t = sym.type.strip_typedefs()
            if (t.code == gdb.TYPE_CODE_ARRAY and
                    t.target().strip_typedefs().tag == "stack_class"):
                return sym.value()
        raise WeftError("weft: no classes[] (lib/stack.c) next to "
                        "running_rt: libweft without debug info?")

    def guard_mode(self):
        sym = self.objfile.lookup_global_symbol("weft_stack_guard_mode")
        return int(sym.value()) if sym else None

    # ---- stacks and fibers ----

    def slots(self):
        """(class, index, top) of every stack ever carved."""
        n = self.classes.type.strip_typedefs().range()[1] + 1
        for cls in range(n):
            c = self.classes[cls]
            nchunks = int(c["nchunks"])
            if not nchunks:
                continue
            shift = int(c["chunk_shift"])
            size = 1 << (cls + STACK_MIN_SHIFT)
            for k in range(nchunks):
                base = int(c["chunk"][k])
                for slot in range(int(c["ncarved"][k])):
                    yield cls, k << shift | slot, base + (slot + 1) * size

    def slot_top(self, cls, index):
        if cls > self.classes.type.strip_typedefs().range()[1]:
            return None
        c = self.classes[cls]
        shift = int(c["chunk_shift"])
        k, slot = index >> shift, index & ((1 << shift) - 1)
        if k >= int(c["nchunks"]) or slot >= int(c["ncarved"][k]):
            return None
        size = 1 << (cls + STACK_MIN_SHIFT)
        return int(c["chunk"][k]) + (slot + 1) * size

    def fiber_at_top(self, top):
        """fiber_of_top() of sched/internal.h."""
        addr = (top - STACK_LINK - self.fiber_size) & ~63
        return gdb.Value(addr).cast(self.fiber_ptr).dereference()

    def fibers(self):
        """(fiber, class) of every live fiber; count unreadable slots."""
        self.unreadable = 0
        for cls, index, top in self.slots():
            f = self.fiber_at_top(top)
            try:
                f.fetch_lazy()
                if int(f["state"]) == 0 or int(f["id"]) == 0:
                    continue
            except gdb.MemoryError:
                self.unreadable += 1
                continue
            yield f, cls

    def lookup(self, fid):
        cls = (fid >> STACK_INDEX_BITS) & 0xF
        index = fid & ((1 << STACK_INDEX_BITS) - 1)
        top = self.slot_top(cls, index)
        if top is None:
            return None
        f = self.fiber_at_top(top)
        try:
            if int(f["id"]) != fid or int(f["state"]) == 0:
                return None
        except gdb.MemoryError:
            raise WeftError("weft: fiber 0x%x: its stack is not readable "
                            "(a core file without it?)" % fid)
        return f

    def find(self, arg):
        """The fiber @arg names: an id, a name, or an expression."""
        arg = arg.strip()
        try:
            fid = int(arg, 0)
        except ValueError:
            named = [f for f, _ in self.fibers()
                     if f["name"].string(errors="replace") == arg]
            if len(named) == 1:
                return named[0]
            if named:
                raise WeftError("weft: %d fibers named %s: give an id" %
                                (len(named), arg))
            try:
                fid = int(gdb.parse_and_eval(arg))
            except gdb.error:
                raise WeftError("weft: no fiber named %s" % arg)
        f = self.lookup(fid)
        if f is None:
            raise WeftError("weft: no fiber 0x%x" % fid)
        return f

    def state(self, f):
        s = int(f["state"])
        return self.states.get(s, "?%d" % s)

    # ---- workers ----

    def worker(self, i):
        return self.workers[i]

    def worker_index(self, ptr):
        p = int(ptr)
        if not p:
            return None
        return (p - int(self.workers)) // self.worker_size

    def _walk(self, head, field="next"):
        """The fibers of a list linked through @field, from @head."""
        out, seen, f = [], set(), head
        while int(f) and int(f) not in seen and len(out) < LIST_MAX:
            seen.add(int(f))
            out.append(int(f))
            f = f.dereference()[field]
        return out

    def queues(self, i):
        """Worker @i's queued fibers: {name: [fiber address]}."""
        w = self.worker(i)
        rq = w["runq"]
        # hg: head in the low 32 bits, a tail-pop count above (core.c).
        head, tail = int(rq["hg"]) & 0xffffffff, int(rq["tail"])
        n = min((tail - head) & 0xFFFFFFFF, RUNQ_SIZE)
        return {
            "runnext": [int(w["runnext"])] if int(w["runnext"]) else [],
            "runq": [int(rq["buf"][(head + j) % RUNQ_SIZE])
                     for j in range(n)],
            "local": self._walk(w["local"]["head"]),
            "inbox": self._walk(w["inbox"]),
        }

    def where(self):
        """Fiber address -> the worker (and queue) holding it."""
        m = {}
        for i in range(self.nworkers):
            w = self.worker(i)
            for name, fibers in self.queues(i).items():
                for a in fibers:
                    m.setdefault(a, "w%d %s" % (i, name))
            if int(w["cur"]):
                m[int(w["cur"])] = "w%d" % i
        for a in self._walk(self.rt["inject"]["head"]):
            m.setdefault(a, "inject")
        return m

    def threads(self):
        """Worker index -> gdb thread: by weft__cur_worker in each thread,
        else by the worker's pthread_t (both need libthread_db), else, for
        a worker running a fiber, by the thread's sp in that fiber's
        stack."""
        m, sps = {}, []
        tls = self.objfile.lookup_global_symbol("weft__cur_worker")
        with _KeepSelection():
            for t in gdb.selected_inferior().threads():
                try:
                    t.switch()
                    sps.append((int(gdb.newest_frame().read_register("sp")),
                                t))
                    i = self.worker_index(tls.value(gdb.newest_frame()))
                    if i is not None and 0 <= i < self.nworkers:
                        m[i] = t
                        continue
                except (gdb.error, RuntimeError, AttributeError):
                    pass
                try:
                    h = int.from_bytes(t.handle(), "little")
                except (gdb.error, RuntimeError, AttributeError, TypeError):
                    continue
                for i in range(self.nworkers):
                    if int(self.worker(i)["thread"]) == h:
                        m.setdefault(i, t)
        for i in range(self.nworkers):
            cur = self.worker(i)["cur"]
            if i in m or not int(cur):
                continue
            top = int(cur.dereference()["top"])
            lo = top - (1 << (int(cur.dereference()["cls"]) + STACK_MIN_SHIFT))
            for sp, t in sps:
                if lo <= sp < top:
                    m[i] = t
        return m


class _KeepSelection:
    """Restore the selected thread and frame on the way out."""

    def __enter__(self):
        self.thread = gdb.selected_thread()
        try:
            self.level = gdb.selected_frame().level()
        except gdb.error:
            self.level = None
        return self

    def __exit__(self, *exc):
        if self.thread is not None and self.thread.is_valid():
            self.thread.switch()
            _select_level(self.level)
        return False


def _select_level(level):
    if level is None:
        return
    try:
        f = gdb.newest_frame()
        for _ in range(level):
            f = f.older() or f
        f.select()
    except gdb.error:
        pass


def _symbol(addr):
    """The function at @addr, by name."""
    if not addr:
        return "-"
    s = gdb.Value(addr).cast(gdb.lookup_type("void").pointer())
    s = s.format_string(symbols=True)
    if "<" in s:
        return s[s.index("<") + 1:s.rindex(">")].split("+")[0]
    return "0x%x" % addr


def _size(n):
    for unit, shift in (("M", 20), ("K", 10)):
        if n >= 1 << shift:
            return "%d%s" % (n >> shift, unit)
    return str(n)


def _table(rows):
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    for r in rows:
        gdb.write("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip()
                  + "\n")


class WeftPrefix(gdb.Command):
    """Commands for weft fibers: weft fibers, weft bt, weft workers,
weft gcore. They work on a live process and on a core file."""

    def __init__(self):
        super().__init__("weft", gdb.COMMAND_STACK, gdb.COMPLETE_NONE, True)

    def invoke(self, arg, from_tty):
        gdb.execute("help weft")


class WeftFibers(gdb.Command):
    """List every fiber: id, state, worker, stack size, entry and name.
A '*' marks a running fiber. WORKER is the worker running or queueing
it (and which queue), or its home worker when it is bound."""

    def __init__(self):
        super().__init__("weft fibers", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        rt = Runtime()
        where = rt.where()
        main = int(rt.rt["main"])
        rows = [[" ", "ID", "STATE", "WORKER", "STACK", "ENTRY", "NAME"]]
        count = {}
        for f, cls in rt.fibers():
            addr = int(f.address)
            state = rt.state(f)
            count[state] = count.get(state, 0) + 1
            w = where.get(addr, "-")
            if w == "-" and int(f["bound"]):
                w = "w%d bound" % rt.worker_index(f["home"])
            name = f["name"].string(errors="replace")
            if not name and addr == main:
                name = "(main)"
            rows.append(["*" if state == "running" else " ",
                         "0x%x" % int(f["id"]), state, w,
                         _size(1 << (cls + STACK_MIN_SHIFT)),
                         _symbol(int(f["fn"])), name or "-"])
        _table(rows)
        total = sum(count.values())
        gdb.write("%d fiber%s: %s\n" % (total, "" if total == 1 else "s",
                  ", ".join("%d %s" % (n, s) for s, n in sorted(count.items()))
                  or "none"))
        if rt.unreadable:
            gdb.write("weft: %d stack slots unreadable: not in this core "
                      "file? (see weft gcore)\n" % rt.unreadable)


def _saved_regs(arch, sp):
    """The registers a switched-out context resumes with, by raw name,
    after the name of the pc."""
    inf = gdb.selected_inferior()

    def word(off):
        return struct.unpack("<Q", inf.read_memory(sp + off, 8).tobytes())[0]

    if "x86-64" in arch:
        return "rip", [("rip", word(X86_RIP)), ("rbp", word(X86_RBP)),
                       ("rsp", sp + X86_SP_ADJ)]
    if "aarch64" in arch:
        regs = [("x29", word(0)), ("x30", word(8))]
        regs += [("x%d" % (19 + i), word(16 + 8 * i)) for i in range(10)]
        return "pc", regs + [("pc", word(8)), ("sp", sp + A64_FRAME)]
    raise WeftError("weft: weft bt knows x86-64 and aarch64, not %s" % arch)


class _FrameId:
    def __init__(self, sp, pc):
        self.sp, self.pc = sp, pc


class _FiberUnwinder(Unwinder):
    """While armed, makes a fiber's saved context the caller of the
    innermost real frame of the selected thread: registers cannot be
    written on a core file, but a frame's caller can be made up.
    The made-up frame's id uses the fiber's saved sp, which lies below
    the fiber's frames, so gdb does not take the unwind for a loop."""

    def __init__(self):
        super().__init__("weft-fiber")
        self.regs = None
        self.level = None

    def arm(self, pc_name, regs, sp):
        self.pc_name, self.regs, self.sp = pc_name, regs, sp
        self.level, self.error = None, None

    def __call__(self, pending):
        if self.regs is None or self.level is not None or self.error:
            return None
        try:
            pc = pending.read_register(self.pc_name)
            sp = gdb.Value(self.sp).cast(pc.type)
            info = pending.create_unwind_info(_FrameId(sp, pc))
            for name, v in self.regs:
                t = pending.read_register(name).type
                info.add_saved_register(name, gdb.Value(v).cast(t))
        except (gdb.error, ValueError, TypeError) as e:
            self.error = str(e)
            return None
        self.level = pending.level() if hasattr(pending, "level") else 0
        return info


def _bt_saved(f, bt_args):
    """The backtrace of @f's saved context, numbered from #0."""
    arch = gdb.newest_frame().architecture().name()
    sp = int(f["ctx"]["sp"])
    pc_name, regs = _saved_regs(arch, sp)
    # bt N would count the frames cut below: take N here instead.
    args = bt_args.split()
    limit = [int(a) for a in args if a.isdigit()]
    bt_args = " ".join(a for a in args if not a.isdigit())
    with _KeepSelection():
        _unwinder.arm(pc_name, regs, sp)
        gdb.invalidate_cached_frames()
        try:
            out = gdb.execute("bt " + bt_args, to_string=True)
        finally:
            skip = _unwinder.level
            _unwinder.regs = None
            gdb.invalidate_cached_frames()
    if skip is None:
        raise WeftError("weft: cannot unwind the fiber: %s" %
                        (_unwinder.error or "gdb did not ask for its frames"))
    gdb.write(_renumber(out, skip + 1, limit[0] if limit else None))


def _renumber(bt, drop, limit):
    """@bt without its first @drop frames, numbered from #0 again, and
    only @limit of them when that is not None."""
    out, level = [], None
    for line in bt.splitlines(True):
        m = re.match(r"#(\d+) +", line)
        if m:
            level = int(m.group(1)) - drop
            if limit is not None and level >= limit:
                out.append("(More stack frames follow...)\n")
                break
            if level >= 0:
                num = "#%d" % level
                pad = max(1, len(m.group(0)) - len(num))
                line = num + " " * pad + line[m.end():]
        if level is None or level >= 0:
            out.append(line)
    return "".join(out)


class WeftBt(gdb.Command):
    """weft bt ID [BT-ARGS]: the backtrace of fiber ID.
ID is a fiber id, a fiber name, or an expression. A fiber that is not
running is unwound from the context it saved when it switched away, on a
live process or a core file; values frame #0 kept in registers read
<optimized out>. For a running fiber, its worker thread's bt. BT-ARGS
(full, N, -N, ...) are passed to bt."""

    def __init__(self):
        super().__init__("weft bt", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        args = gdb.string_to_argv(arg)
        if not args:
            raise WeftError("usage: weft bt ID [BT-ARGS]")
        rt = Runtime()
        f = rt.find(args[0])
        bt_args = " ".join(args[1:])
        state = rt.state(f)
        name = f["name"].string(errors="replace")
        gdb.write("fiber 0x%x%s %s, entry %s\n" %
                  (int(f["id"]), ' "%s"' % name if name else "", state,
                   _symbol(int(f["fn"]))))
        if state == "running":
            self.running(rt, f, bt_args)
            return
        if gdb.selected_thread() is None:
            raise WeftError("weft: no thread selected")
        _bt_saved(f, bt_args)

    def running(self, rt, f, bt_args):
        for i in range(rt.nworkers):
            if int(rt.worker(i)["cur"]) == int(f.address):
                t = rt.threads().get(i)
                if t is None:
                    raise WeftError("weft: running on worker %d, whose "
                                    "thread gdb does not know" % i)
                gdb.write("running on worker %d: thread %d's backtrace\n"
                          % (i, t.num))
                with _KeepSelection():
                    t.switch()
                    gdb.execute("bt " + bt_args)
                return
        raise WeftError("weft: running, yet no worker runs it (mid-switch?)")


class WeftWorkers(gdb.Command):
    """List every worker: its gdb thread, what it does, the fiber it runs,
and how many fibers wait in each of its queues."""

    def __init__(self):
        super().__init__("weft workers", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        rt = Runtime()
        threads = rt.threads()
        idle = rt.rt["idle"]
        rows = [["W", "THREAD", "STATE", "RUNNING", "RUNNEXT", "RUNQ",
                 "LOCAL", "INBOX", "TIMERS", "SWITCHES"]]
        for i in range(rt.nworkers):
            w = rt.worker(i)
            q = rt.queues(i)
            t = threads.get(i)
            cur = w["cur"]
            if int(cur):
                state = "fiber"
                name = cur.dereference()["name"].string(errors="replace")
                running = "0x%x%s" % (int(cur.dereference()["id"]),
                                      " " + name if name else "")
            else:
                running = "-"
                if int(idle) and (int(idle[i // 64]) >> (i % 64)) & 1:
                    state = "sleeping"
                elif bool(w["spinning"]):
                    state = "spinning"
                else:
                    state = "loop"
            rn = q["runnext"]
            rows.append([str(i),
                         "%d (LWP %d)" % (t.num, t.ptid[1]) if t else "?",
                         state, running,
                         "0x%x" % int(gdb.Value(rn[0]).cast(rt.fiber_ptr)
                                      .dereference()["id"]) if rn else "-",
                         str(len(q["runq"])), str(len(q["local"])),
                         str(len(q["inbox"])), str(int(w["timers"]["n"])),
                         str(int(w["switches"]))])
        _table(rows)
        gdb.write("inject: %d, backend: %s\n" %
                  (len(rt._walk(rt.rt["inject"]["head"])),
                   "io_uring" if bool(rt.rt["use_uring"]) else "epoll"))


def _core_loads(fh):
    """The PT_LOAD segments of an ELF64 little-endian core:
    (vaddr, offset, filesz)."""
    fh.seek(0)
    eh = fh.read(64)
    if eh[:4] != b"\x7fELF" or eh[4] != 2 or eh[5] != 1:
        raise WeftError("weft: not an ELF64 little-endian core")
    phoff, shoff = struct.unpack_from("<QQ", eh, 32)
    phentsize, phnum = struct.unpack_from("<HH", eh, 54)
    if phnum == 0xFFFF:         # PN_XNUM: the count is in section 0
        fh.seek(shoff + 44)
        phnum = struct.unpack("<I", fh.read(4))[0]
    fh.seek(phoff)
    ph = fh.read(phentsize * phnum)
    loads = []
    for i in range(phnum):
        p_type, _, off, vaddr, _, filesz = struct.unpack_from(
            "<IIQQQQ", ph, i * phentsize)
        if p_type == 1 and filesz:
            loads.append((vaddr, off, filesz))
    return loads


class WeftGcore(gdb.Command):
    """weft gcore [FILE]: gcore, then write the fiber stacks gcore left out.
gcore reads memory 1 MiB at a time and gives up on a mapping at its first
unreadable byte. With guard pages made by MADV_GUARD_INSTALL (WEFT_GUARD=
madvise, the default from Linux 6.13) every stack chunk starts with one,
so gcore saves no fiber stack; this writes each carved stack, guard page
aside, into the core file. Live processes only; the process is only read."""

    def __init__(self):
        super().__init__("weft gcore", gdb.COMMAND_FILES,
                         gdb.COMPLETE_FILENAME)

    def invoke(self, arg, from_tty):
        args = gdb.string_to_argv(arg)
        inf = gdb.selected_inferior()
        conn = getattr(inf, "connection", None)
        if not inf.pid or (conn and conn.type == "core"):
            raise WeftError("weft gcore: needs a live process")
        path = args[0] if args else "core.%d" % inf.pid
        rt = Runtime()
        gdb.execute("gcore " + path)
        if rt.guard_mode() not in (None, GUARD_MADVISE):
            return
        stacks, failed = 0, 0
        with open(path, "r+b") as fh:
            loads = _core_loads(fh)
            for cls, _, top in rt.slots():
                lo = top - (1 << (cls + STACK_MIN_SHIFT)) + PAGE
                try:
                    data = inf.read_memory(lo, top - lo).tobytes()
                except gdb.MemoryError:
                    failed += 1
                    continue
                written = False
                for vaddr, off, filesz in loads:
                    a, b = max(lo, vaddr), min(top, vaddr + filesz)
                    if a < b:
                        fh.seek(off + a - vaddr)
                        fh.write(data[a - lo:b - lo])
                        written = True
                stacks += written
        gdb.write("weft: wrote %d fiber stacks into %s%s\n" %
                  (stacks, path, ", %d unreadable" % failed if failed else ""))


class WeftFiberFn(gdb.Function):
    """$weft_fiber(ID): a pointer to fiber ID's descriptor (ID as in
weft bt, here an integer)."""

    def __init__(self):
        super().__init__("weft_fiber")

    def invoke(self, fid):
        rt = Runtime()
        f = rt.lookup(int(fid))
        if f is None:
            raise WeftError("weft: no fiber 0x%x" % int(fid))
        return f.address


_unwinder = _FiberUnwinder()
register_unwinder(None, _unwinder, replace=True)
WeftPrefix()
WeftFibers()
WeftBt()
WeftWorkers()
WeftGcore()
WeftFiberFn()
