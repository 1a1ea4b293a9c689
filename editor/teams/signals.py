from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver

from . import personal
from .models import Team


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def give_new_user_a_personal_team(sender, instance, created: bool, raw: bool = False, **kwargs):
    if created and not raw and personal.are_created():
        Team.objects.create_personal(instance)
