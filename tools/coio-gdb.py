# gdb helpers for coio programs.
#
#   (gdb) source tools/coio-gdb.py
#   (gdb) coio tasks          list the tasks of the current thread's loop
#   (gdb) coio bt ID          backtrace of task ID (suspended or running)
#
# A suspended task's context is its saved stack pointer (the first member of struct
# coio_task), below which the switch pushed the resume address and frame pointer (see
# src/context.h); "coio bt" points the selected thread's registers at that context,
# prints the backtrace and puts the registers back.
import gdb

STATES = {0: "new", 1: "ready", 2: "running", 3: "waiting", 4: "done"}


def _loop():
    try:
        loop = gdb.parse_and_eval("coio__tls_loop")
    except gdb.error as e:
        raise gdb.GdbError("coio: cannot read coio__tls_loop (%s); is libcoio loaded with debug info?" % e)
    if int(loop) == 0:
        raise gdb.GdbError("coio: no loop runs on this thread")
    return loop


CHUNK_BYTES = 64 * 1024  # src/task.c
FREE = 5                 # COIO__FREE: a recycled slot


def _tasks():
    """Every task of this thread's loop, walking the loop's task chunks like
    coio__tasks_each() does."""
    loop = _loop()
    task_t = gdb.lookup_type("struct coio_task")
    task_p = task_t.pointer()
    TASKS_PER_CHUNK = CHUNK_BYTES // task_t.sizeof
    nchunks = int(loop["ntask_chunks"])
    for c in range(nchunks):
        chunk = loop["task_chunks"][c].cast(task_p)
        n = TASKS_PER_CHUNK if c + 1 < nchunks else TASKS_PER_CHUNK - int(loop["task_chunk_left"])
        for i in range(n):
            t = chunk[i]
            if int(t["state"]) != FREE:
                yield t


def _str(p):
    if int(p) == 0:
        return ""
    try:
        return p.string()
    except gdb.error:
        return "?"


def _arch():
    return gdb.selected_frame().architecture().name()


def _regs():
    return ("sp", "pc", "x29") if "aarch64" in _arch() else ("sp", "pc", "rbp")


def _saved_context(t):
    """(sp, pc, fp) at which a suspended task resumes; see the frame in src/context.h."""
    sp = int(t["ctx"]["sp"])
    u64 = gdb.lookup_type("unsigned long").pointer()
    word = lambda addr: int(gdb.Value(addr).cast(u64).dereference())
    if "aarch64" in _arch():  # [fpcr][pad][x29][pc], no red zone
        return sp + 32, word(sp + 24), word(sp + 16)
    # x86-64: [mxcsr|cw][pc][rbp], then the 128-byte red zone it stepped over
    return sp + 24 + 128, word(sp + 8), word(sp + 16)


class Coio(gdb.Command):
    """coio tasks | coio bt ID"""

    def __init__(self):
        super().__init__("coio", gdb.COMMAND_USER, gdb.COMPLETE_NONE, True)


class CoioTasks(gdb.Command):
    """List the tasks of this thread's coio loop: id, name, state, what each waits on."""

    def __init__(self):
        super().__init__("coio tasks", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        loop = _loop()
        current = int(loop["current"])
        print("%-6s %-20s %-8s %-22s %s" % ("id", "name", "state", "waiting on", "sp"))
        for t in _tasks():
            state = STATES.get(int(t["state"]), "?")
            if int(t.address) == current:
                state = "running"
            print("%-6d %-20s %-8s %-22s %s" % (int(t["id"]), _str(t["name"]), state,
                                                _str(t["wait_what"]), hex(int(t["ctx"]["sp"]))))


class CoioBt(gdb.Command):
    """Backtrace of coio task ID (see "coio tasks")."""

    def __init__(self):
        super().__init__("coio bt", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        if not arg.strip():
            raise gdb.GdbError("usage: coio bt ID")
        want = int(arg.strip())
        loop = _loop()
        for t in _tasks():
            if int(t["id"]) != want:
                continue
            if int(t.address) == int(loop["current"]):
                gdb.execute("bt")
                return
            if int(t["state"]) in (0, 4) or int(t["stack_lo"]) == 0:
                print("task %d has no stack (%s)" % (want, STATES.get(int(t["state"]), "?")))
                return
            sp, pc, fp = _saved_context(t)
            gdb.execute("select-frame 0")
            regs = _regs()
            saved = [int(gdb.parse_and_eval("$" + r)) for r in regs]
            try:
                for r, v in zip(regs, (sp, pc, fp)):
                    gdb.execute("set $%s = %d" % (r, v))
                gdb.execute("bt")
            finally:
                for r, v in zip(regs, saved):
                    gdb.execute("set $%s = %d" % (r, v))
            return
        raise gdb.GdbError("coio: no task %d" % want)


Coio()
CoioTasks()
CoioBt()
