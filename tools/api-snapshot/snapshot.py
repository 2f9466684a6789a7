#!/usr/bin/env python3
"""Reduce a crate's rustdoc JSON to a sorted list of its public API, one item per line.

Usage: snapshot.py <crate.json> [--skip-module PATH]...

Walks the crate from its root module as a user sees it: modules, re-exports (`pub use`, followed
to the item), structs with their public fields, enums with their variants, traits with their
items, functions with full signatures, constants, statics, type aliases, macros, every inherent
impl's public items and every trait implemented (auto traits and blanket impls left out). An item
re-exported at several paths is described in full once and listed as a re-export elsewhere.
Standard library only; written against rustdoc JSON format 57 (Rust 1.95), reading only fields
that have been stable for many format versions.
"""
import json
import sys


class Api:
    def __init__(self, doc, skip):
        self.doc = doc
        self.index = doc["index"]
        self.paths = doc["paths"]
        self.skip = set(skip)
        self.lines = set()
        self.described = {}  # item id -> path where it was described

    # ---- rendering -------------------------------------------------------------------------
    def path_of(self, p):
        """A resolved path: the canonical path when rustdoc knows the item, plus generic args."""
        info = self.paths.get(str(p.get("id")))
        name = "::".join(info["path"]) if info else p["path"]
        return name + self.args(p.get("args"))

    def args(self, a):
        if not a:
            return ""
        if "angle_bracketed" in a:
            ab = a["angle_bracketed"]
            parts = [self.arg(x) for x in ab.get("args", [])]
            for c in ab.get("constraints", []):
                b = c.get("binding", {})
                head = c["name"] + self.args(c.get("args"))
                if "equality" in b:
                    parts.append(head + " = " + self.term(b["equality"]))
                else:
                    parts.append(head + ": " + self.bounds(b.get("constraint", [])))
            return "<" + ", ".join(parts) + ">" if parts else ""
        if "parenthesized" in a:
            pz = a["parenthesized"]
            out = "(" + ", ".join(self.ty(t) for t in pz.get("inputs", [])) + ")"
            if pz.get("output") is not None:
                out += " -> " + self.ty(pz["output"])
            return out
        return "(..)"

    def arg(self, x):
        if x == "infer":
            return "_"
        if "lifetime" in x:
            return x["lifetime"]
        if "type" in x:
            return self.ty(x["type"])
        if "const" in x:
            return x["const"].get("expr", "?")
        return "?"

    def term(self, t):
        if "type" in t:
            return self.ty(t["type"])
        if "constant" in t:
            return t["constant"].get("expr", "?")
        return "?"

    def bound(self, b):
        if "trait_bound" in b:
            tb = b["trait_bound"]
            hr = self.hrtb(tb.get("generic_params", []))
            mod = {"maybe": "?", "maybe_const": "~const "}.get(tb.get("modifier"), "")
            return hr + mod + self.path_of(tb["trait"])
        if "outlives" in b:
            return b["outlives"]
        if "use" in b:
            return "use<" + ", ".join(str(u) if isinstance(u, str) else next(iter(u.values())) for u in b["use"]) + ">"
        return "?"

    def bounds(self, bs):
        return " + ".join(self.bound(b) for b in bs)

    def hrtb(self, params):
        return "for<" + ", ".join(p["name"] for p in params) + "> " if params else ""

    def ty(self, t):
        if t is None:
            return "()"
        if isinstance(t, str):
            return t
        k, v = next(iter(t.items()))
        if k == "resolved_path":
            return self.path_of(v)
        if k == "dyn_trait":
            s = "dyn " + " + ".join(self.hrtb(x.get("generic_params", [])) + self.path_of(x["trait"]) for x in v["traits"])
            return s + (" + " + v["lifetime"] if v.get("lifetime") else "")
        if k in ("generic", "primitive"):
            return v
        if k == "tuple":
            return "(" + ", ".join(self.ty(x) for x in v) + ("," if len(v) == 1 else "") + ")"
        if k == "slice":
            return "[" + self.ty(v) + "]"
        if k == "array":
            return "[" + self.ty(v["type"]) + "; " + str(v["len"]) + "]"
        if k == "impl_trait":
            return "impl " + self.bounds(v)
        if k == "infer":
            return "_"
        if k == "raw_pointer":
            return ("*mut " if v["is_mutable"] else "*const ") + self.ty(v["type"])
        if k == "borrowed_ref":
            lt = v["lifetime"] + " " if v.get("lifetime") else ""
            return "&" + lt + ("mut " if v["is_mutable"] else "") + self.ty(v["type"])
        if k == "qualified_path":
            self_ty = self.ty(v["self_type"])
            tr = v.get("trait")
            head = "<" + self_ty + " as " + self.path_of(tr) + ">" if tr else self_ty
            return head + "::" + v["name"] + self.args(v.get("args"))
        if k == "function_pointer":
            return self.hrtb(v.get("generic_params", [])) + "fn(" + ", ".join(self.ty(x[1]) for x in v["sig"]["inputs"]) + ")" + self.ret(v["sig"].get("output"))
        if k == "pat":
            return self.ty(v["type"])
        return "?" + k

    def ret(self, out):
        return "" if out is None else " -> " + self.ty(out)

    def generics(self, g):
        params = []
        for p in g.get("params", []):
            kind = p["kind"]
            if "lifetime" in kind:
                o = kind["lifetime"].get("outlives", [])
                params.append(p["name"] + (": " + " + ".join(o) if o else ""))
            elif "type" in kind:
                if kind["type"].get("is_synthetic"):
                    continue  # `impl Trait` argument, shown in the argument
                b = kind["type"].get("bounds", [])
                s = p["name"] + (": " + self.bounds(b) if b else "")
                if kind["type"].get("default") is not None:
                    s += " = " + self.ty(kind["type"]["default"])
                params.append(s)
            elif "const" in kind:
                params.append("const " + p["name"] + ": " + self.ty(kind["const"]["type"]))
        return "<" + ", ".join(params) + ">" if params else ""

    def where(self, g):
        preds = []
        for w in g.get("where_predicates", []):
            if "bound_predicate" in w:
                bp = w["bound_predicate"]
                preds.append(self.hrtb(bp.get("generic_params", [])) + self.ty(bp["type"]) + ": " + self.bounds(bp["bounds"]))
            elif "lifetime_predicate" in w:
                lp = w["lifetime_predicate"]
                preds.append(lp["lifetime"] + ": " + " + ".join(lp["outlives"]))
            elif "eq_predicate" in w:
                ep = w["eq_predicate"]
                preds.append(self.ty(ep["lhs"]) + " == " + self.term(ep["rhs"]))
        return " where " + ", ".join(preds) if preds else ""

    def fn_sig(self, name, f):
        h = f["header"]
        quals = "".join(q for q, on in (("const ", h["is_const"]), ("async ", h["is_async"]), ("unsafe ", h["is_unsafe"])) if on)
        args = []
        for arg_name, t in f["sig"]["inputs"]:
            if arg_name == "self" and t == {"generic": "Self"}:
                args.append("self")
            elif arg_name == "self" and t.get("borrowed_ref", {}).get("type") == {"generic": "Self"}:
                r = t["borrowed_ref"]
                lt = r["lifetime"] + " " if r.get("lifetime") else ""
                args.append("&" + lt + ("mut " if r["is_mutable"] else "") + "self")
            else:
                args.append(arg_name + ": " + self.ty(t))
        return f"{quals}fn {name}{self.generics(f['generics'])}({', '.join(args)}){self.ret(f['sig'].get('output'))}{self.where(f['generics'])}"

    # ---- walking ---------------------------------------------------------------------------
    def emit(self, line):
        self.lines.add(line)

    def walk_module(self, mid, prefix):
        for cid in self.index[str(mid)]["inner"]["module"]["items"]:
            self.item(cid, prefix)

    def item(self, iid, prefix, name=None):
        it = self.index.get(str(iid))
        if it is None:
            return
        kind, inner = next(iter(it["inner"].items()))
        if kind == "use":
            self.use(inner, prefix)
            return
        if it["crate_id"] != 0:
            return
        name = name or it["name"]
        path = f"{prefix}::{name}" if prefix else name
        if path in self.skip:
            self.emit(f"pub mod {path} (not snapshotted)")
            return
        if kind not in ("module",) and iid in self.described:
            self.emit(f"pub use {path} = {self.described[iid]}")
            return
        self.described[iid] = path
        dep = " #[deprecated]" if it.get("deprecation") else ""
        if kind == "module":
            self.emit(f"pub mod {path}{dep}")
            self.walk_module(iid, path)
        elif kind == "struct":
            g = inner["generics"]
            self.emit(f"pub struct {path}{self.generics(g)}{self.where(g)}{dep}")
            sk = inner["kind"]
            if isinstance(sk, dict) and "plain" in sk:
                for fid in sk["plain"]["fields"]:
                    f = self.index[str(fid)]
                    self.emit(f"pub {path}.{f['name']}: {self.ty(f['inner']['struct_field'])}")
                if sk["plain"].get("has_stripped_fields"):
                    self.emit(f"pub struct {path} (has private fields)")
            elif isinstance(sk, dict) and "tuple" in sk:
                fields = ["pub " + self.ty(self.index[str(f)]["inner"]["struct_field"]) if f is not None else "_" for f in sk["tuple"]]
                self.emit(f"pub struct {path}({', '.join(fields)})")
            self.impls(inner["impls"], path)
        elif kind == "enum":
            g = inner["generics"]
            self.emit(f"pub enum {path}{self.generics(g)}{self.where(g)}{dep}")
            for vid in inner["variants"]:
                self.variant(self.index[str(vid)], path)
            if inner.get("has_stripped_variants"):
                self.emit(f"pub enum {path} (has private variants)")
            self.impls(inner["impls"], path)
        elif kind == "union":
            self.emit(f"pub union {path}{self.generics(inner['generics'])}{dep}")
            self.impls(inner["impls"], path)
        elif kind == "trait":
            g = inner["generics"]
            sup = ": " + self.bounds(inner["bounds"]) if inner.get("bounds") else ""
            flags = ("unsafe " if inner.get("is_unsafe") else "") + ("auto " if inner.get("is_auto") else "")
            self.emit(f"pub {flags}trait {path}{self.generics(g)}{sup}{self.where(g)}{dep}")
            for aid in inner["items"]:
                self.assoc(self.index[str(aid)], path, in_trait=True)
        elif kind == "function":
            self.emit(f"pub {self.fn_sig(path, inner)}{dep}")
        elif kind == "constant":
            self.emit(f"pub const {path}: {self.ty(inner['type'])}{dep}")
        elif kind == "static":
            self.emit(f"pub static {'mut ' if inner.get('is_mutable') else ''}{path}: {self.ty(inner['type'])}{dep}")
        elif kind == "type_alias":
            g = inner["generics"]
            self.emit(f"pub type {path}{self.generics(g)} = {self.ty(inner['type'])}{dep}")
        elif kind == "macro":
            self.emit(f"pub macro {path}!{dep}")
        elif kind == "proc_macro":
            self.emit(f"pub proc_macro {path}{dep}")
        else:
            self.emit(f"pub {kind} {path}{dep}")

    def use(self, u, prefix):
        target = u.get("id")
        if u.get("is_glob"):
            t = self.index.get(str(target)) if target is not None else None
            if t is not None and "module" in t["inner"]:
                self.walk_module(target, prefix)
            else:
                self.emit(f"pub use {prefix}::* = {u['source']}::*")
            return
        t = self.index.get(str(target)) if target is not None else None
        path = f"{prefix}::{u['name']}" if prefix else u["name"]
        if t is None or t["crate_id"] != 0:
            info = self.paths.get(str(target))
            src = "::".join(info["path"]) if info else u["source"]
            self.emit(f"pub use {path} = {src}")
            return
        self.item(target, prefix, u["name"])

    def variant(self, v, enum_path):
        vk = v["inner"]["variant"]["kind"]
        path = f"{enum_path}::{v['name']}"
        if vk == "plain":
            disc = v["inner"]["variant"].get("discriminant")
            self.emit(f"pub {path}" + (f" = {disc['expr']}" if disc else ""))
        elif "tuple" in vk:
            fields = [self.ty(self.index[str(f)]["inner"]["struct_field"]) if f is not None else "_" for f in vk["tuple"]]
            self.emit(f"pub {path}({', '.join(fields)})")
        elif "struct" in vk:
            self.emit(f"pub {path} {{ .. }}")
            for fid in vk["struct"]["fields"]:
                f = self.index[str(fid)]
                self.emit(f"pub {path}.{f['name']}: {self.ty(f['inner']['struct_field'])}")

    def assoc(self, it, owner, in_trait):
        kind, inner = next(iter(it["inner"].items()))
        if not in_trait and it.get("visibility") != "public":
            return
        path = f"{owner}::{it['name']}"
        dep = " #[deprecated]" if it.get("deprecation") else ""
        if kind == "function":
            self.emit(f"pub {self.fn_sig(path, inner)}{dep}")
        elif kind == "assoc_const":
            self.emit(f"pub const {path}: {self.ty(inner['type'])}{dep}")
        elif kind == "assoc_type":
            b = ": " + self.bounds(inner["bounds"]) if inner.get("bounds") else ""
            self.emit(f"pub type {path}{b}{dep}")

    def impls(self, ids, path):
        for iid in ids:
            imp = self.index[str(iid)]["inner"]["impl"]
            if imp.get("is_synthetic") or imp.get("blanket_impl") is not None:
                continue
            if imp.get("trait") is None:
                for aid in imp["items"]:
                    self.assoc(self.index[str(aid)], path, in_trait=False)
            else:
                g = imp["generics"]
                neg = "!" if imp.get("is_negative") else ""
                self.emit(f"impl{self.generics(g)} {neg}{self.path_of(imp['trait'])} for {self.ty(imp['for'])}{self.where(g)}")


def main():
    argv = sys.argv[1:]
    skip = []
    while "--skip-module" in argv:
        i = argv.index("--skip-module")
        skip.append(argv[i + 1])
        del argv[i : i + 2]
    doc = json.load(open(argv[0]))
    api = Api(doc, skip)
    root = doc["index"][str(doc["root"])]
    crate = root["name"]
    api.walk_module(doc["root"], crate)
    for line in sorted(api.lines):
        print(line)


if __name__ == "__main__":
    main()
