#!/usr/bin/env python3
"""Which file of src/ calls which, from the symbols of the compiled objects (nm).

Usage: tools/depgraph.py [objdir]   (default: build/dev/CMakeFiles/coio_objects.dir/src)

An edge a -> b means a.o refers to a symbol b.o defines (a call, or the address of a
function or table). Inline functions of internal.h count for the file they are inlined
into. Prints every edge, then the cycles (strongly connected components of more than one
file), then checks the house rules (CONTRIBUTING.md, "Layers"): the only cycle allowed is
task <-> loop, loop.c calls neither stream.c nor debug.c, stack.c does not call loop.c.
registry.c names every backend and subsystem for the loop (the composition root): its edges are
listed but left out of the checks. Exit status 1 if a rule is broken.
"""
import os
import subprocess
import sys

objdir = sys.argv[1] if len(sys.argv) > 1 else "build/dev/CMakeFiles/coio_objects.dir/src"
REGISTRY = {"registry"}

defs, refs = {}, {}
srcdir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
for f in sorted(os.listdir(srcdir)):  # the sources, not whatever objects are lying around
    if not f.endswith(".c"):
        continue
    name = f[:-2]
    out = subprocess.run(["nm", os.path.join(objdir, f + ".o")], capture_output=True,
                         text=True, check=True).stdout
    refs[name] = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "U":
            refs[name].add(parts[1])
        elif len(parts) == 3 and parts[1] in "TDRBV":
            defs[parts[2]] = name

edges = {a: sorted({defs[s] for s in syms if s in defs and defs[s] != a})
         for a, syms in refs.items()}
for a in sorted(edges):
    print(f"{a:12} -> {' '.join(edges[a])}")

# Tarjan's strongly connected components, without the registry.
graph = {a: [b for b in bs if b not in REGISTRY] for a, bs in edges.items() if a not in REGISTRY}
index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]


def visit(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on.add(v)
    for w in graph.get(v, []):
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop()
            on.discard(w)
            comp.append(w)
            if w == v:
                break
        if len(comp) > 1:
            sccs.append(sorted(comp))


sys.setrecursionlimit(10000)
for v in sorted(graph):
    if v not in index:
        visit(v)

bad = False
print("\ncycles:", sccs if sccs else "none")
for comp in sccs:
    if comp != ["loop", "task"]:
        print(f"RULE: a cycle other than task <-> loop: {comp}")
        bad = True
for a, b in (("loop", "stream"), ("loop", "debug"), ("stack", "loop"), ("stack", "task")):
    if b in graph.get(a, []):
        print(f"RULE: {a}.c calls into {b}.c")
        bad = True
print("rules:", "broken" if bad else "kept")
sys.exit(1 if bad else 0)
