"""A Griffe extension for the API reference: the lazily loaded names.

`bnorder_tf`, `bnorder_tf.stats`, `training`, `serving` and `tuning` list
their public names with `bnorder_tf._lazy.attach(__name__, {name:
module})`, which imports a module when one of its names is first used.
Griffe reads source without running it, so it sees neither those names
nor `__all__`, and the reference showed only the packages' docstrings.

This extension reads the dict literal of each `attach` call and adds
each name to the package as an alias of the object its module defines,
and makes those names the package's `__all__`: the reference then shows
`bnorder_tf.stats.activation_stats`, the path users import, not
`bnorder_tf.stats.engine.activation_stats`.

It also replaces a default value that names a module-level constant
(`histogram_bins=DEFAULT_HISTOGRAM_BINS`) by the constant's value, so a
signature shows the number a user gets.

Loaded by `mkdocs.yml` (the mkdocstrings handler's `extensions`); it
changes only what the site shows, never the package.
"""

import ast
import importlib.util
import textwrap

import griffe

ATTACH = "attach"
#: Calls whose argument is a dataclass field's default (`field` of
#: dataclasses, `_setting` of `bnorder_tf.training.config`).
FIELD_FACTORIES = ("field", "_setting")


def _attach_calls(tree):
    """The `(dict node)` of every `... = attach(__name__, {...})`."""
    for statement in tree.body:
        if not isinstance(statement, ast.Assign):
            continue
        call = statement.value
        if (
            isinstance(call, ast.Call)
            and getattr(call.func, "id", getattr(call.func, "attr", None))
            == ATTACH
            and len(call.args) == 2
            and isinstance(call.args[1], ast.Dict)
        ):
            yield call.args[1]


def lazy_names(tree, package):
    """`{name: target path}` of the names `attach` calls in `tree` list.

    Args:
        tree: the `ast.Module` of a package's `__init__.py`.
        package: the package's dotted name.

    Returns:
        A dict from each public name to the dotted path of the object
        (`"bnorder_tf.stats.engine.activation_stats"`), or to `None` for
        a subpackage or module of the package itself.
    """
    names = {}
    for mapping in _attach_calls(tree):
        for key, value in zip(mapping.keys, mapping.values, strict=True):
            name = ast.literal_eval(key)
            source = ast.literal_eval(value)
            if source is None:
                names[name] = None
            else:
                module = importlib.util.resolve_name(f".{source}", package)
                names[name] = f"{module}.{name}"
    return names


class LazyExports(griffe.Extension):
    """Adds the names of `_lazy.attach` to the packages that call it."""

    def on_module_members(self, *, node, mod, **kwargs):
        """Adds `mod`'s lazy names as aliases and makes them its `__all__`."""
        if not isinstance(node, ast.Module):
            return
        names = lazy_names(node, mod.path)
        if not names:
            return
        for name, target in names.items():
            if target is not None and name not in mod.members:
                mod.set_member(name, griffe.Alias(name, target, parent=mod))
        literal = [
            e for e in (mod.exports or ()) if isinstance(e, str) and e != "*"
        ]
        mod.exports = list(dict.fromkeys([*names, *literal]))

    def on_package(self, *, pkg, **kwargs):
        """Documents each exported object once, at its package's path.

        An object a package exports from one of its modules (the class
        `SwapBlock` of `bnorder_tf.layers.blocks`, exported by
        `bnorder_tf.layers`) is left out where the module is rendered:
        the reference shows it at the package.
        """
        for module in _modules(pkg):
            for name in module.exports or ():
                member = module.members.get(str(name))
                if member is None or not member.is_alias:
                    continue
                try:
                    target = member.final_target
                except (griffe.AliasResolutionError, griffe.CyclicAliasError):
                    continue
                if target.is_module:
                    continue
                if target.parent is not None and target.parent is not module:
                    target.public = False


def _modules(module):
    """`module` and every module under it."""
    yield module
    for submodule in module.modules.values():
        if not submodule.is_alias:
            yield from _modules(submodule)


def _constant_value(expression, scope):
    """The literal value of a module constant an expression names, or None."""
    if not isinstance(expression, (griffe.ExprName, griffe.ExprAttribute)):
        return None
    try:
        target = scope.modules_collection.get_member(expression.canonical_path)
    except (KeyError, ValueError, AttributeError, griffe.AliasResolutionError):
        return None
    try:
        value = target.value
    except griffe.AliasResolutionError:
        return None
    if isinstance(value, str):
        try:
            ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return None
        return value
    return None


def _field_default(expression):
    """The default of a dataclass field made by a call, or the expression.

    `dataclasses.field(default=...)` and the package's `_setting(default,
    help, value_type, ...)` (`bnorder_tf.training.config`) show as the
    default.
    """
    if not isinstance(expression, griffe.ExprCall):
        return expression
    name = getattr(expression.function, "name", "")
    if name not in FIELD_FACTORIES:
        return expression
    for argument in expression.arguments:
        if isinstance(argument, griffe.ExprKeyword):
            if argument.name == "default":
                return argument.value
        elif name == "_setting":
            return argument
    return expression


def _shown_default(expression, scope):
    """What a signature shows for a default: a value where one is known."""
    expression = _field_default(expression)
    value = _constant_value(expression, scope)
    return expression if value is None else value


class ConstantDefaults(griffe.Extension):
    """Shows a default that names a module constant as the constant's value."""

    def on_package(self, *, pkg, **kwargs):
        """Rewrites the defaults of every function and class in `pkg`."""
        self._visit(pkg, seen=set())

    def _visit(self, obj, seen):
        if obj.path in seen:
            return
        seen.add(obj.path)
        for member in obj.members.values():
            if member.is_alias:
                continue
            if member.is_function:
                for parameter in member.parameters:
                    parameter.default = _shown_default(
                        parameter.default, member
                    )
            if member.is_attribute and obj.is_class:
                # a dataclass's fields: Griffe's dataclasses extension
                # makes `__init__`'s defaults of these values
                member.value = _shown_default(member.value, obj)
            if member.is_class or member.is_module:
                self._visit(member, seen)


def _super_init_keywords(function):
    """Keywords that `function` passes by name to `super().__init__`.

    Returns:
        The set of names, or `None` when `function` does not call
        `super().__init__(..., **kwargs)`.
    """
    try:
        tree = ast.parse(textwrap.dedent(function.source))
    except (SyntaxError, OSError, ValueError):
        return None
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "__init__"
            and isinstance(node.func.value, ast.Call)
            and getattr(node.func.value.func, "id", None) == "super"
        ):
            if not any(k.arg is None for k in node.keywords):
                return None
            return {k.arg for k in node.keywords if k.arg is not None}
    return None


class ForwardedArguments(griffe.Extension):
    """Shows the arguments an `__init__` passes on with `**kwargs`.

    `SwapBlock(filters=None, **kwargs)` passes everything but the order to
    `Block.__init__`: its signature shows `Block`'s arguments (those its
    `super().__init__` call does not set itself) instead of `**kwargs`.
    """

    def on_package(self, *, pkg, **kwargs):
        """Expands the `**kwargs` of the `__init__`s of the package."""
        for module in _modules(pkg):
            for member in list(module.members.values()):
                if not member.is_alias and member.is_class:
                    self._expand(member)

    def _expand(self, cls):
        init = cls.members.get("__init__")
        if init is None or init.is_alias:
            return
        own = list(init.parameters)
        if not own or own[-1].kind is not griffe.ParameterKind.var_keyword:
            return
        fixed = _super_init_keywords(init)
        if fixed is None:
            return
        base_init = None
        for base in cls.resolved_bases:
            candidate = base.all_members.get("__init__")
            if candidate is not None:
                base_init = candidate
                break
        if base_init is None:
            return
        names = {p.name for p in own}
        added = [
            p
            for p in base_init.parameters
            if p.name not in names
            and p.name not in fixed
            and p.kind
            in (
                griffe.ParameterKind.keyword_only,
                griffe.ParameterKind.var_keyword,
            )
        ]
        if not added:
            return
        star = [p for p in added if p.kind is griffe.ParameterKind.var_keyword]
        keyword_only = [p for p in added if p not in star]
        init.parameters = griffe.Parameters(*own[:-1], *keyword_only, own[-1])
