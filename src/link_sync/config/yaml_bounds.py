"""A YAML document's size with its aliases expanded, bounded before anything is built.

YAML's anchors and aliases let a 500-byte file stand for a billion values (an "alias
bomb": each level names the one below nine times). PyYAML shares an aliased node, so
parsing stays small, but every later step (`${VAR}` substitution, validation) walks the
expanded tree. The config loader therefore counts the expanded size of the parsed node
graph first, on either parser (libyaml's or PyYAML's own), and refuses a document that
stands for more than `MAX_NODES` values, or whose anchor refers to itself.
"""

from __future__ import annotations

import yaml

#: The most values (scalars, lists, mappings, keys included) a config may stand for with
#: every alias expanded. A 500-printer config is ~10,000; a 9-level alias bomb ~390 M.
MAX_NODES = 200_000


class TooLarge(Exception):
    """The document expands beyond MAX_NODES, or an anchor refers to itself."""


def check_expanded_size(root: yaml.Node, limit: int = MAX_NODES) -> int:
    """The number of values `root` stands for with every alias expanded (a shared node
    counts once per place it is used). Each distinct node is visited once, its size
    remembered, so this costs the size of the file, not of the expansion.

    Raises TooLarge past `limit` or on a cycle."""
    sizes: dict[int, int] = {}
    entered: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if not children_done:
            if key in sizes:
                continue
            if key in entered:
                raise TooLarge("an anchor refers to itself")
            entered.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
            continue
        size = 1 + sum(sizes[id(child)] for child in _children(node))
        if size > limit:
            raise TooLarge(f"its aliases expand to more than {limit:,} values")
        sizes[key] = size
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []
