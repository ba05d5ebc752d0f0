"""Factories for tests of every app: wallet users with real ed25519 keypairs."""

from __future__ import annotations

import factory
from solders.keypair import Keypair

from accounts.models import User


class UserFactory(factory.django.DjangoModelFactory):
    """A wallet user whose address is a fresh solders Keypair's public key.

    The keypair is kept on the instance as ``user.keypair`` (not stored), so a test can sign
    for this user: ``tests.accounts.helpers.sign_in(client, keypair=user.keypair)``.
    """

    class Meta:
        model = User
        skip_postgeneration_save = True

    keypair = factory.LazyFunction(Keypair)
    address = factory.LazyAttribute(lambda o: str(o.keypair.pubkey()))
    username = factory.LazyAttribute(lambda o: o.address)
    password = "!unusable"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        """Through ``UserManager.create_user``, as every real path creates a user: with its books
        (the ``user_created`` hook). An ``address`` that already has a user returns that user."""
        keypair = kwargs.pop("keypair")
        kwargs["password"] = None  # unusable, as for every wallet user
        user = model_class.objects.filter(address=kwargs["address"]).first()
        if user is None:
            user = model_class.objects.create_user(*args, **kwargs)
        user.keypair = keypair
        return user

    @classmethod
    def _build(cls, model_class, *args, **kwargs):
        keypair = kwargs.pop("keypair")
        user = super()._build(model_class, *args, **kwargs)
        user.keypair = keypair
        return user
