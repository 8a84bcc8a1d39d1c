"""E-mail: what each message says, and how the outbox's messages are delivered.

kinds (the one registry: message kind -> audience, template values, attachments), render (the
kind's nb/sv/en templates, plain text and HTML, into a MIME message), transport (SMTP, and the
development mailbox), mailbox (the development mailbox's store, shown at /dev/mailbox), sender
(the delivery job), devserver (an SMTP server for development), inbox (a person's messages, for
their Messages page). The outbox itself, and the row's side of "never twice", are in
portal/jobs/outbox.py.
"""
