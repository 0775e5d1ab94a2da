# gdb helpers for coio programs.
#
#   (gdb) source tools/coio-gdb.py
#   (gdb) coio tasks          list the tasks of the current thread's loop
#   (gdb) coio bt ID          backtrace of task ID (suspended or running)
#
# A suspended task's context is {sp, pc, fp} at the start of struct coio_task (see
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


def _tasks():
    loop = _loop()
    task_t = gdb.lookup_type("struct coio_task")
    off = None
    for f in task_t.fields():
        if f.name == "all":
            off = f.bitpos // 8
    head = loop["all"].address
    node = loop["all"]["next"]
    while int(node) != int(head):
        addr = int(node) - off
        yield gdb.Value(addr).cast(task_t.pointer()).dereference()
        node = node["next"]


def _str(p):
    if int(p) == 0:
        return ""
    try:
        return p.string()
    except gdb.error:
        return "?"


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
            if int(t["state"]) in (0, 4) or int(t["stack"]["lo"]) == 0:
                print("task %d has no stack (%s)" % (want, STATES.get(int(t["state"]), "?")))
                return
            ctx = t["ctx"]
            gdb.execute("select-frame 0")
            saved = [int(gdb.parse_and_eval(r)) for r in ("$sp", "$pc", "$rbp")]
            try:
                gdb.execute("set $sp = %d" % int(ctx["sp"]))
                gdb.execute("set $rbp = %d" % int(ctx["fp"]))
                gdb.execute("set $pc = %d" % int(ctx["pc"]))
                gdb.execute("bt")
            finally:
                gdb.execute("set $sp = %d" % saved[0])
                gdb.execute("set $rbp = %d" % saved[2])
                gdb.execute("set $pc = %d" % saved[1])
            return
        raise gdb.GdbError("coio: no task %d" % want)


Coio()
CoioTasks()
CoioBt()
