"""The roles people have, as Django groups with permissions.

Contributors and readers need no account. Everyone else signs in and holds one or more roles.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission

ADMIN = "admin"
ANALYST = "analyst"
PANEL_MEMBER = "panel member"
EVALUATION_LEAD = "evaluation lead"

#: Role -> the permission codenames it grants ("app_label.codename"); "*" is every permission.
ROLE_PERMISSIONS: dict[str, list[str]] = {
    ADMIN: ["*"],
    ANALYST: [
        "listen.view_programme",
        "listen.view_submission",
        "listen.change_submission",
        "listen.view_respondent",
        "listen.view_original_text",
        "listen.view_importbatch",
        "listen.add_importbatch",
        "listen.view_document",
        "listen.add_document",
        "listen.export_submissions",
        "understand.view_code",
        "understand.change_code",
        "understand.add_analysisrun",
        "understand.view_analysisrun",
        "understand.change_codeassignment",
        "understand.view_theme",
        "understand.change_theme",
        "understand.add_theme",
        "understand.delete_theme",
        "understand.add_code",
        "understand.delete_code",
        "understand.change_distinctchange",
        "understand.view_codingsample",
        "understand.add_codingsample",
        "understand.view_traininground",
        "understand.change_referenceshare",
        "decide.view_panel",
        "decide.add_panel",
        "decide.change_panel",
        "decide.add_delphiround",
        "decide.change_delphiround",
        "decide.view_pairwisesurvey",
        "decide.add_pairwisesurvey",
        "decide.change_pairwisesurvey",
        "decide.change_idea",
        "decide.view_conversation",
        "decide.add_conversation",
        "decide.change_conversation",
        "decide.change_statement",
        "decide.view_choiceexperiment",
        "decide.add_choiceexperiment",
        "decide.change_choiceexperiment",
        "evaluate.view_trackedchange",
        "evaluate.add_trackedchange",
        "evaluate.change_trackedchange",
        "evaluate.view_evaluation",
    ],
    PANEL_MEMBER: ["listen.view_programme", "understand.view_code", "decide.view_panel"],
    EVALUATION_LEAD: [
        "listen.view_programme",
        "listen.view_submission",
        "understand.view_code",
        "evaluate.view_trackedchange",
        "evaluate.add_trackedchange",
        "evaluate.change_trackedchange",
        "evaluate.view_evaluation",
        "evaluate.add_evaluation",
        "evaluate.change_evaluation",
        "evaluate.delete_evaluation",
    ],
}
ROLES = list(ROLE_PERMISSIONS)


def ensure_roles() -> None:
    """Create the role groups and give each its permissions; safe to run any number of times."""
    for role, codes in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        if codes == ["*"]:
            perms = list(Permission.objects.all())
        else:
            perms = []
            for code in codes:
                app_label, codename = code.split(".", 1)
                perm = Permission.objects.filter(
                    content_type__app_label=app_label, codename=codename
                ).first()
                if perm is not None:
                    perms.append(perm)
        group.permissions.set(perms)


def ensure_roles_after_migrate(**kwargs: Any) -> None:
    ensure_roles()


def has_role(user: Any, role: str) -> bool:
    return bool(
        user.is_authenticated and (user.is_superuser or user.groups.filter(name=role).exists())
    )
