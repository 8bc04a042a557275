"""Who may use each page of the site: one entry per named URL pattern.

``get`` and ``post`` say who may use the method:

* ``PUBLIC``: anyone, signed in or not;
* ``TOKEN``: anyone holding the private token in the URL (a panel member's or co-design
  collaborator's link, a pulse form); a wrong token is 404;
* ``SIGNED_IN``: any account;
* ``NOBODY``: the view does not take the method (405);
* a permission codename (``"app.codename"``), a tuple of codenames (all needed), or a frozenset of
  role names: people with it are let in, anonymous visitors are sent to sign in, and signed-in
  people without it get ``denied`` (403, or 404 where the page hides that the thing exists);
* ``HIDDEN``: 404 for everyone (a private or unpublished thing behind a public URL).

``post=None`` means the view takes no POST. ``args`` names the world's objects the URL is built
from (``"pk=tracked number=version"``); parameters not named there take the world value of the
same name. Keys with `` [variant]`` after the URL name are extra checks of the same URL with
other objects (a private programme, an unpublished evaluation, a wrong token).

``API`` marks the JSON API's URL names, whose operations are checked from the OpenAPI schema
(``API_POLICY``, keyed by operationId suffix).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from changebank.core.roles import ROLE_PERMISSIONS

PUBLIC = "public"
TOKEN = "public-token"
SIGNED_IN = "signed-in"
NOBODY = "nobody"
HIDDEN = "hidden"
API = "api"

ANALYST_ROLES = frozenset({"analyst", "admin"})


@dataclass(frozen=True)
class Access:
    get: str | tuple[str, ...] | frozenset[str]
    post: str | tuple[str, ...] | frozenset[str] | None = None
    args: str = ""
    denied: str = "403"
    anonymous: str = "login"
    #: allowed people may get 404 or a redirect: the object is deliberately missing from the world
    missing: bool = False
    note: str = field(default="", compare=False)

    def kwargs(self, pattern_params: list[str], ids: dict) -> dict:
        named = dict(pair.split("=") for pair in self.args.split())
        return {p: ids[named.get(p, p)] for p in pattern_params}


# Short names for the permissions the views check.
V_PROG = "listen.view_programme"
V_SUB = "listen.view_submission"
ADD_IMPORT = "listen.add_importbatch"
ERASE = "listen.erase_submissions"
V_CODE = "understand.view_code"
V_SAMPLE = "understand.view_codingsample"
ADD_SAMPLE = "understand.add_codingsample"
CH_THEME = "understand.change_theme"
V_PANEL, CH_PANEL = "decide.view_panel", "decide.change_panel"
V_PAIR, ADD_PAIR, CH_PAIR = (
    "decide.view_pairwisesurvey",
    "decide.add_pairwisesurvey",
    "decide.change_pairwisesurvey",
)
MOD_IDEA = "decide.change_idea"
V_CONV, MOD_STATEMENT = "decide.view_conversation", "decide.change_statement"
V_EXP, CH_EXP = "decide.view_choiceexperiment", "decide.change_choiceexperiment"
V_TRACK, ADD_TRACK, CH_TRACK = (
    "evaluate.view_trackedchange",
    "evaluate.add_trackedchange",
    "evaluate.change_trackedchange",
)
V_EVAL, ADD_EVAL, CH_EVAL, DEL_EVAL = (
    "evaluate.view_evaluation",
    "evaluate.add_evaluation",
    "evaluate.change_evaluation",
    "evaluate.delete_evaluation",
)


def read(perm: object, **kw: object) -> Access:
    """A page for ``perm`` that takes no POST."""
    return Access(perm, None, **kw)


def form(perm: object, post: object = None, **kw: object) -> Access:
    """A page for ``perm`` with a form that posts back to it."""
    return Access(perm, perm if post is None else post, **kw)


def action(perm: object, **kw: object) -> Access:
    """A POST-only action (``require_POST``): GET is 405."""
    return Access(NOBODY, perm, **kw)


POLICY: dict[str, Access] = {
    # --- core
    "core:home": read(PUBLIC),
    "core:login": form(PUBLIC),
    "core:logout": action(PUBLIC),
    "core:accessibility": read(PUBLIC),
    "core:privacy": read(PUBLIC),
    # --- listen
    "listen:programme_detail": read(PUBLIC),
    "listen:programme_detail [private programme]": read(
        V_PROG, args="slug=private_slug", anonymous="404", denied="404"
    ),
    "listen:take_part": form(PUBLIC),
    "listen:take_part [private programme]": form(
        V_PROG, args="slug=private_slug", anonymous="404", denied="404"
    ),
    "listen:take_part_done": read(PUBLIC),
    "listen:redactions": form("listen.view_original_text"),
    "listen:erase": form(ERASE),
    "listen:subject_access": read(ERASE),
    "listen:submission_list": read(V_SUB),
    "listen:submission_detail": read(V_SUB, args="pk=submission"),
    "listen:import_upload": form(ADD_IMPORT),
    "listen:import_preview": form(ADD_IMPORT, missing=True, note="no pending upload: 404"),
    "listen:import_detail": read("listen.view_importbatch", args="pk=import"),
    "listen:document_detail": read("listen.view_document", args="pk=document"),
    # --- understand
    "understand:overview": read(V_CODE),
    "understand:board_action": action(V_CODE),
    "understand:history": read(V_CODE),
    "understand:undo": action(V_CODE),
    "understand:start": action("understand.add_analysisrun"),
    "understand:run_detail": read(V_CODE, args="pk=run"),
    "understand:code_detail": form(V_CODE, args="pk=code"),
    "understand:theme_detail": form(V_CODE, args="pk=theme"),
    "understand:review": form(V_CODE),
    "understand:who_said_it": read(V_CODE),
    "understand:submissions": read(V_CODE),
    "understand:distinct_changes": read(V_CODE),
    "understand:distinct_change_detail": read(V_CODE, args="pk=change"),
    "understand:framework_stance": read(V_CODE),
    "understand:framework_cooccurrence": read(V_CODE),
    "understand:framework_representation": form(V_CODE),
    "understand:coding_grid": form(V_CODE),
    "understand:code_submission": form(V_CODE, args="pk=submission"),
    # GET redirects to the change's page; POST needs understand.change_distinctchange inside.
    "understand:distinct_change_edit": form(V_CODE, args="pk=change"),
    "understand:distinct_change_merge": form(V_CODE, args="pk=change"),
    "understand:distinct_change_members": form(V_CODE, args="pk=change"),
    "understand:distinct_change_link": form(V_CODE, args="pk=change"),
    "understand:distinct_change_related": form(V_CODE, args="pk=change"),
    "understand:double_coding": read(V_SAMPLE),
    "understand:double_new": form(ADD_SAMPLE),
    "understand:double_sample": form(V_SAMPLE, args="pk=sample"),
    # only the sample's coders (the analyst and the admin here) code it
    "understand:double_code_start": read(ANALYST_ROLES, args="pk=sample"),
    "understand:double_code": form(ANALYST_ROLES, args="pk=sample"),
    "understand:double_agreement": read(V_SAMPLE, args="pk=sample"),
    "understand:double_resolve": form(V_SAMPLE, args="pk=sample"),
    "understand:learning": form(V_CODE),
    "understand:next": form(V_CODE),
    # --- decide
    "decide:overview": read(V_CODE),
    "decide:panels": form(V_PANEL),
    "decide:panel_detail": read(V_PANEL, args="pk=panel"),
    "decide:panel_member_add": form(CH_PANEL, args="pk=panel"),
    "decide:panel_members_paste": form(CH_PANEL, args="pk=panel"),
    "decide:panel_member_new_link": action(CH_PANEL, args="pk=panel"),
    "decide:panel_links_csv": read(CH_PANEL, args="pk=panel"),
    "decide:delphi_new": form("decide.add_delphiround", args="pk=panel"),
    "decide:delphi_round": read(V_PANEL, args="pk=panel number=round"),
    "decide:delphi_status": action("decide.change_delphiround", args="pk=panel number=round"),
    "decide:delphi_results": read(V_PANEL, args="pk=panel number=round"),
    "decide:delphi_results_csv": read(V_PANEL, args="pk=panel number=round"),
    "decide:panel_member_home": read(TOKEN, args="token=member_token"),
    "decide:panel_member_home [wrong token]": read(HIDDEN, args="token=token"),
    "decide:panel_member_home [private programme]": read(
        HIDDEN, args="slug=private_slug token=private_member_token"
    ),
    "decide:delphi_rate": form(TOKEN, args="token=member_token number=round change=change"),
    "decide:pairwise_list": read(V_PAIR),
    "decide:pairwise_new": form(ADD_PAIR),
    "decide:pairwise_detail": read(V_PAIR),
    "decide:pairwise_status": action(CH_PAIR),
    "decide:pairwise_idea_add": action(MOD_IDEA),
    "decide:pairwise_moderate": action(MOD_IDEA, args="pk=idea"),
    "decide:pairwise_vote": form(PUBLIC),
    "decide:pairwise_add_idea": form(PUBLIC),
    "decide:pairwise_results": read(PUBLIC),
    "decide:pairwise_results_csv": read(PUBLIC),
    "decide:conversations": form(V_CONV),
    "decide:conversation": form(V_CONV),
    "decide:conversation_statement": form(MOD_STATEMENT, args="pk=statement"),
    "decide:conversation_vote": form(PUBLIC),
    # the conversation is open: its results are for analysts until it closes
    "decide:conversation_results": read(V_CONV, denied="404"),
    "decide:conversation_votes_csv": read(V_CONV, denied="404"),
    "decide:conversation_comments_csv": read(V_CONV, denied="404"),
    "decide:experiments": form(V_EXP),
    "decide:experiment_detail": read(V_EXP),
    "decide:experiment_edit": form(CH_EXP),
    "decide:experiment_design": action(CH_EXP),
    "decide:experiment_status": action(CH_EXP),
    "decide:experiment_results": read(V_EXP),
    "decide:experiment_take": form(PUBLIC),
    "decide:long_list": read((V_PANEL, V_PAIR, V_CONV)),
    "decide:long_list_csv": read((V_PANEL, V_PAIR, V_CONV)),
    # --- evaluate
    "evaluate:overview": read(V_TRACK),
    "evaluate:track": form(ADD_TRACK),
    "evaluate:change_detail": read(V_TRACK, args="pk=tracked"),
    "evaluate:change_move": action(CH_TRACK, args="pk=tracked"),
    "evaluate:change_edit": form(CH_TRACK, args="pk=tracked"),
    "evaluate:adoption_add": form(CH_TRACK, args="pk=tracked"),
    "evaluate:adoption_remove": action(CH_TRACK, args="pk=tracked"),
    "evaluate:pulse_toggle": action(CH_TRACK, args="pk=tracked"),
    "evaluate:design": form(V_TRACK, CH_TRACK, args="pk=tracked"),
    "evaluate:design_version": read(V_TRACK, args="pk=tracked number=version"),
    "evaluate:collaborator_add": form(CH_TRACK, args="pk=tracked"),
    "evaluate:collaborator_remove": action(CH_TRACK, args="pk=tracked"),
    "evaluate:design_invited": form(TOKEN, args="token=collaborator_token"),
    "evaluate:design_invited [panel member's link]": form(TOKEN, args="token=member_token"),
    "evaluate:design_invited [wrong token]": form(HIDDEN, args="token=token"),
    "evaluate:design_invited_version": read(TOKEN, args="token=collaborator_token number=version"),
    "evaluate:pulse": form(TOKEN, args="token=pulse_token"),
    "evaluate:pulse [wrong token]": form(HIDDEN, args="token=token"),
    "evaluate:pulse_done": read(TOKEN, args="token=pulse_token"),
    "evaluate:pulse_csv": read(V_TRACK, args="pk=tracked"),
    "evaluate:evaluation_new": form(ADD_EVAL),
    "evaluate:evaluation_detail": read(V_EVAL, args="pk=evaluation"),
    "evaluate:evaluation_edit": form(CH_EVAL, args="pk=evaluation"),
    "evaluate:evaluation_publish": action(CH_EVAL, args="pk=evaluation"),
    "evaluate:evaluation_delete": form(DEL_EVAL, args="pk=evaluation"),
    "evaluate:outcome_add": action(CH_EVAL, args="pk=evaluation"),
    "evaluate:evidence_add": action(CH_EVAL, args="pk=evaluation"),
    "evaluate:effect_add": action(CH_EVAL, args="pk=evaluation"),
    "evaluate:document_add": action(CH_EVAL, args="pk=evaluation"),
    "evaluate:document_download": read(V_EVAL, args="pk=evaluation item=ev_doc"),
    "evaluate:item_remove": action(CH_EVAL, args="pk=evaluation"),
    "evaluate:metric_add": action(CH_EVAL, args="pk=evaluation"),
    "evaluate:metric_detail": read(V_EVAL, args="pk=evaluation"),
    "evaluate:metric_edit": action(CH_EVAL, args="pk=evaluation"),
    "evaluate:metric_upload": action(CH_EVAL, args="pk=evaluation"),
    "evaluate:metric_delete": action(CH_EVAL, args="pk=evaluation"),
    "evaluate:metric_csv": read(V_EVAL, args="pk=evaluation"),
    "evaluate:repository": read(PUBLIC),
    "evaluate:public_evaluation": read(PUBLIC, args="pk=evaluation"),
    "evaluate:public_evaluation [unpublished]": read(HIDDEN, args="pk=draft"),
    "evaluate:public_metric": read(PUBLIC, args="pk=evaluation"),
    "evaluate:public_metric [unpublished]": read(HIDDEN, args="pk=draft metric=draft_metric"),
    "evaluate:public_metric_csv": read(PUBLIC, args="pk=evaluation"),
    "evaluate:public_metric_csv [unpublished]": read(HIDDEN, args="pk=draft metric=draft_metric"),
    "evaluate:public_document": read(PUBLIC, args="pk=evaluation item=ev_doc"),
    "evaluate:public_document [unpublished]": read(HIDDEN, args="pk=draft item=draft_doc"),
    # --- share
    "share:catalogue": read(PUBLIC),
    "share:catalogue_theme": read(PUBLIC, args="pk=theme"),
    "share:catalogue_theme [private programme]": read(HIDDEN, args="pk=private_theme"),
    "share:add_experience": form(PUBLIC, args="pk=theme"),
    "share:experience_done": read(PUBLIC, args="pk=theme"),
    "share:catalogue_change": read(PUBLIC, args="pk=change"),
    "share:you_said": read(PUBLIC),
    "share:publishing": read(CH_THEME),
    "share:publish_theme": action(CH_THEME, args="pk=theme"),
    "share:unpublish_theme": action(CH_THEME, args="pk=theme"),
    "share:report": read(V_CODE),
    "share:report_download": read(V_CODE, args="fmt=fmt_report"),
    "share:public_report": read(PUBLIC),
    "share:public_report [private programme]": read(HIDDEN, args="slug=private_slug"),
    "share:public_report_download": read(PUBLIC, args="fmt=fmt_report"),
    "share:open_data": read(PUBLIC),
    "share:open_data [private programme]": read(HIDDEN, args="slug=private_slug"),
    "share:open_data_download": read(PUBLIC, args="fmt=fmt_data"),
    "share:open_data_download [private programme]": read(
        HIDDEN, args="slug=private_slug fmt=fmt_data"
    ),
    "share:refi": form(V_CODE, "understand.change_code"),
    "share:refi_qdc": read(V_CODE),
    "share:refi_qdpx": read(V_CODE),
    "share:api_docs": read(PUBLIC),
    "share:api_tokens": form(SIGNED_IN),
    # --- the JSON API: checked operation by operation from the OpenAPI schema
    "api-v1:openapi-json": read(PUBLIC),
    "api-v1:api-root": read(API),
    "api-v1:list_programmes": read(API),
    "api-v1:get_programme": read(API),
    "api-v1:submit": read(API),
    "api-v1:list_submissions": read(API),
    "api-v1:list_themes": read(API),
    "api-v1:get_theme": read(API),
    "api-v1:list_changes": read(API),
    "api-v1:get_change": read(API),
    "api-v1:list_codes": read(API),
    "api-v1:create_code": read(API),
    "api-v1:get_code": read(API),
    "api-v1:edit_code": read(API),
    "api-v1:list_codings": read(API),
    "api-v1:set_codes": read(API),
    "api-v1:delete_coding": read(API),
}

#: URL patterns without a name (allowed only when listed here, by route).
UNNAMED = {"api/v1/": "redirect to share:api_docs"}

#: API operations by the end of their operationId: the permissions needed (all of them), or
#: PUBLIC. Every operation that needs permissions accepts an API token or the session.
API_POLICY: dict[str, str | tuple[str, ...]] = {
    "programmes_list_programmes": PUBLIC,
    "programmes_get_programme": PUBLIC,
    "programmes_submit": PUBLIC,
    "catalogue_list_themes": PUBLIC,
    "catalogue_get_theme": PUBLIC,
    "catalogue_list_changes": PUBLIC,
    "catalogue_get_change": PUBLIC,
    "coding_list_submissions": (V_SUB,),
    "coding_list_codes": (V_CODE,),
    "coding_get_code": (V_CODE,),
    "coding_create_code": (V_CODE, "understand.add_code"),
    "coding_edit_code": (V_CODE, "understand.change_code"),
    "coding_list_codings": (V_CODE,),
    "coding_set_codes": (V_CODE, "understand.change_codeassignment"),
    "coding_delete_coding": (V_CODE, "understand.change_codeassignment"),
}


def role_has(role: str, perm: str) -> bool:
    if role == "anonymous":
        return False
    codes = ROLE_PERMISSIONS[role]
    return codes == ["*"] or perm in codes


def may(who: object, role: str) -> bool:
    """Whether ``role`` is let in by ``who`` (a permission, permissions or a set of roles)."""
    if isinstance(who, frozenset):
        return role in who
    perms = (who,) if isinstance(who, str) else who
    return all(role_has(role, p) for p in perms)


def expected(who: object, role: str, rule: Access) -> str:
    """The outcome class ``role`` must get for a method whose access is ``who``."""
    if who in (PUBLIC, TOKEN):
        return "ok"
    if who == HIDDEN:
        return "404"
    if who == NOBODY:
        return "405"
    if role == "anonymous":
        return rule.anonymous
    if who == SIGNED_IN:
        return "ok"
    return "ok" if may(who, role) else rule.denied
