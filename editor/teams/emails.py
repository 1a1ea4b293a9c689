"""Invitation e-mails, through Django's mail (the MAILERS setting; console by default)."""

import logging

from django.core.mail import send_mail
from django.template.loader import render_to_string

from .models import Invitation

log = logging.getLogger(__name__)


def send_invitation(invitation: Invitation) -> bool:
    """E-mail the link to the invited address. False when sending failed: the owner
    still has the link on the page to pass on themselves, so this never raises."""
    context = {"invitation": invitation}
    subject = render_to_string("teams/emails/invitation_subject.txt", context).strip()
    body = render_to_string("teams/emails/invitation.txt", context)
    try:
        send_mail(subject, body, None, [invitation.email])
    except Exception:
        log.exception("Could not send the invitation e-mail for invitation %s", invitation.pk)
        return False
    return True
