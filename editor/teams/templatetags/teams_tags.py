from django import template

from editor.teams.permissions import can_change_edit

register = template.Library()


@register.filter
def can_change(membership, edit) -> bool:
    """`{% if membership|can_change:edit %}`: the rule of permissions.can_change_edit,
    for showing a Delete button only to those who may use it. No queries."""
    return membership is not None and can_change_edit(membership, edit)
