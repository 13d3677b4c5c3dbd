"""CloudFormation intrinsic functions, resolved against the local engine's names and ARNs.

Only what a SAM template for this service needs: ``Ref``, ``Fn::GetAtt``, ``Fn::Sub``, ``Fn::Join``,
``Fn::Select``, ``Fn::Split``, ``Fn::If`` (with ``Fn::Equals`` / ``Fn::Not`` / ``Fn::And`` / ``Fn::Or``
conditions). Anything else fails with an error that names the function, rather than passing a dict
where a string was expected.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


class TemplateResolutionError(Exception):
    """A template value cannot be resolved locally; the message names the intrinsic or the reference."""


RefLookup = Callable[[str], str]
GetAttLookup = Callable[[str, str], str]


class Intrinsics:
    """Resolve intrinsic functions inside any template value (dicts, lists, scalars)."""

    def __init__(
        self,
        ref: RefLookup,
        get_att: GetAttLookup,
        conditions: Mapping[str, Any] | None = None,
    ) -> None:
        self._ref = ref
        self._get_att = get_att
        self._conditions = dict(conditions or {})
        self._condition_values: dict[str, bool] = {}

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, argument), *_ = value.items()
            handler = self._handlers().get(key)
            if handler is not None:
                return handler(argument)
            if key.startswith("Fn::"):
                raise TemplateResolutionError(
                    f"intrinsic function {key} is not supported by the local engine"
                )
        return {key: self.resolve(item) for key, item in value.items()}

    def resolve_str(self, value: Any, where: str) -> str:
        resolved = self.resolve(value)
        if isinstance(resolved, bool):
            return "true" if resolved else "false"
        if isinstance(resolved, str | int | float):
            return str(resolved)
        raise TemplateResolutionError(f"{where}: expected a string, got {type(resolved).__name__}")

    def condition(self, name: str) -> bool:
        if name not in self._condition_values:
            if name not in self._conditions:
                raise TemplateResolutionError(f"condition {name!r} is not defined in Conditions")
            self._condition_values[name] = self._truth(self._conditions[name])
        return self._condition_values[name]

    def _handlers(self) -> dict[str, Callable[[Any], Any]]:
        return {
            "Ref": lambda arg: self._ref(self.resolve_str(arg, "Ref")),
            "Fn::GetAtt": self._fn_get_att,
            "Fn::Sub": self._fn_sub,
            "Fn::Join": self._fn_join,
            "Fn::Select": self._fn_select,
            "Fn::Split": self._fn_split,
            "Fn::If": self._fn_if,
            "Fn::Equals": self._truth_of("Fn::Equals"),
            "Fn::Not": self._truth_of("Fn::Not"),
            "Fn::And": self._truth_of("Fn::And"),
            "Fn::Or": self._truth_of("Fn::Or"),
            "Condition": lambda arg: self.condition(self.resolve_str(arg, "Condition")),
        }

    def _fn_get_att(self, argument: Any) -> str:
        if isinstance(argument, str):
            argument = argument.split(".", 1)
        logical_id, attribute = (self.resolve_str(part, "Fn::GetAtt") for part in argument)
        return self._get_att(logical_id, attribute)

    def _fn_sub(self, argument: Any) -> str:
        if isinstance(argument, list):
            text, variables = argument[0], self.resolve(argument[1])
        else:
            text, variables = argument, {}
        if not isinstance(text, str):
            raise TemplateResolutionError("Fn::Sub: the first argument must be a string")

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return self._get_att(logical_id, attribute)
            return self._ref(name)

        # "${!Literal}" is CloudFormation's escape for a literal "${Literal}".
        return _SUB_VARIABLE.sub(substitute, text).replace("${!", "${")

    def _fn_join(self, argument: Any) -> str:
        delimiter, items = argument
        return str(delimiter).join(self.resolve_str(item, "Fn::Join") for item in self.resolve(items))

    def _fn_select(self, argument: Any) -> Any:
        index, items = argument
        return self.resolve(items)[int(self.resolve_str(index, "Fn::Select"))]

    def _fn_split(self, argument: Any) -> list[str]:
        delimiter, text = argument
        return self.resolve_str(text, "Fn::Split").split(str(delimiter))

    def _fn_if(self, argument: Any) -> Any:
        name, when_true, when_false = argument
        return self.resolve(when_true if self.condition(name) else when_false)

    def _truth_of(self, key: str) -> Callable[[Any], bool]:
        return lambda argument: self._truth({key: argument})

    def _truth(self, expression: Any) -> bool:
        if not isinstance(expression, dict) or len(expression) != 1:
            raise TemplateResolutionError(f"not a condition expression: {expression!r}")
        (key, argument), *_ = expression.items()
        if key == "Fn::Equals":
            left, right = (self.resolve(item) for item in argument)
            return bool(str(left) == str(right))
        if key == "Fn::Not":
            return not self._truth(argument[0])
        if key == "Fn::And":
            return all(self._truth(item) for item in argument)
        if key == "Fn::Or":
            return any(self._truth(item) for item in argument)
        if key == "Condition":
            return self.condition(argument)
        raise TemplateResolutionError(f"condition function {key} is not supported by the local engine")
