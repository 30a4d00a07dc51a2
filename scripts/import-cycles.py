#!/usr/bin/env python3
"""Fails when a crate's source files import each other in a cycle.

A file depends on another when it names an item of that file's module: `crate::a::b`,
`super::x`, `self::x`, in `use` trees or inline paths. Module declarations (`mod x;`) are not
dependencies. Every crate of the workspace is checked (each `src/` under a Cargo.toml).

    scripts/import-cycles.py [ROOT]
"""
import os
import re
import sys


def strip(text):
    """Source without comments, strings and char literals (which may hold `crate::`)."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r'(?<![A-Za-z0-9_])r(#*)".*?"\1', '""', text, flags=re.S)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text, flags=re.S)
    text = re.sub(r"'(?:\\.|[^'\\])'", "' '", text)
    return text


def modules(src):
    """Module path (tuple) -> file, for every .rs file under src."""
    found = {}
    for dirpath, _, files in os.walk(src):
        for name in files:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, src)[:-3].split(os.sep)
            if rel[-1] in ("lib", "main") and len(rel) == 1:
                rel = []
            elif rel[-1] == "mod":
                rel = rel[:-1]
            found[tuple(rel)] = path
    return found


def expand(tree):
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e] (as lists of segments)."""
    tree = tree.strip()
    if not tree:
        return []
    depth, start = 0, None
    for i, ch in enumerate(tree):
        if ch == "{" and depth == 0:
            start = i
            break
    if start is None:
        path = tree.split(" as ")[0].strip()
        return [[s for s in path.split("::") if s]]
    prefix = [s for s in tree[:start].split("::") if s]
    inner = tree[start + 1 : tree.rindex("}")]
    parts, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    out = []
    for part in parts:
        for path in expand(part):
            out.append(prefix + path)
    return out


def paths(text):
    """Every path a file names: use trees expanded, then inline `crate::`/`super::` paths."""
    found = []
    for m in re.finditer(r"\buse\s+([^;]+);", text):
        found.extend(expand(m.group(1)))
    body = re.sub(r"\buse\s+[^;]+;", " ", text)
    for m in re.finditer(r"\b((?:crate|super|self)(?:::(?:super|[A-Za-z_][A-Za-z0-9_]*))+)", body):
        found.append(m.group(1).split("::"))
    return found


def blocks(text, here):
    """The file's text as (module path, text) pairs: inline `mod x { ... }` blocks (tests,
    mostly) apart, so that their `super::` names the file's own module."""
    out, rest, pos = [], [], 0
    for m in re.finditer(r"\bmod\s+([A-Za-z_][A-Za-z0-9_]*)\s*\{", text):
        if m.start() < pos:
            continue
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        rest.append(text[pos : m.start()])
        out.extend(blocks(text[m.end() : i - 1], tuple(here) + (m.group(1),)))
        pos = i
    rest.append(text[pos:])
    return [(tuple(here), "".join(rest))] + out


def resolve(path, here, mods, aliases):
    """The module file a path names an item of, or None when it leaves the crate. A name a
    module re-exports (`pub use x::Name`) resolves to the module that defines it."""
    if not path:
        return None
    if path[0] == "crate":
        base, rest = [], path[1:]
    elif path[0] in ("super", "self"):
        base = list(here)
        rest = path
        while rest and rest[0] in ("super", "self"):
            if rest[0] == "super" and base:
                base.pop()
            rest = rest[1:]
    else:
        # A `use` relative to the current module (`use foo::x` naming a child module).
        child = tuple(here) + (path[0],)
        if child not in mods:
            return None
        base, rest = list(here), path
    best = tuple(base) if tuple(base) in mods else None
    cur = list(base)
    for i, seg in enumerate(rest):
        cur.append(seg)
        if tuple(cur) in mods:
            best = tuple(cur)
        else:
            target = aliases.get(best, {}).get(seg)
            if target is not None:
                return resolve(target + rest[i + 1 :], best, mods, aliases)
            break
    return best


def cycles(src):
    mods = modules(src)
    graph = {m: set() for m in mods}
    texts, aliases = {}, {}
    for mod, file in mods.items():
        with open(file, encoding="utf-8") as f:
            texts[mod] = strip(f.read())
        for m in re.finditer(r"\bpub(?:\([^)]*\))?\s+use\s+([^;]+);", texts[mod]):
            for path in expand(m.group(1)):
                if path and path[-1] != "*":
                    aliases.setdefault(mod, {})[path[-1]] = path
    for mod, text in texts.items():
        for here, block in blocks(text, mod):
            for path in paths(block):
                target = resolve(path, here, mods, aliases)
                if target is not None and target != mod:
                    graph[mod].add(target)
    return [scc for scc in tarjan(graph) if len(scc) > 1], mods, graph


def tarjan(graph):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on.discard(w)
                scc.append(w)
                if w == v:
                    break
            out.append(scc)

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    failed = False
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in ("target", ".git", ".venv", ".tools", "node_modules")]
        if "Cargo.toml" in files and os.path.isdir(os.path.join(dirpath, "src")):
            found, mods, graph = cycles(os.path.join(dirpath, "src"))
            for scc in found:
                failed = True
                names = sorted(os.path.relpath(mods[m], root) for m in scc)
                print(f"import cycle of {len(scc)} files in {os.path.relpath(dirpath, root)}:")
                members = set(scc)
                for m in sorted(scc):
                    uses = sorted(os.path.relpath(mods[t], root) for t in graph[m] if t in members)
                    print(f"  {os.path.relpath(mods[m], root)} -> {', '.join(uses)}")
    if failed:
        sys.exit(1)
    print("no import cycles")


if __name__ == "__main__":
    main()
