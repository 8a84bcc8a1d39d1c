"""A person's choices about marketing, and the company's use of them.

consent (the append-only history of consent, reservation and objection), preferences (a person's
choices end to end: read, change, keep the block list in step), withdrawal (a withdrawn consent
reaches the company's systems), block_list (the one global block list), registers (external
do-not-call registers), washing (call lists washed against the block list), api_check, api_tokens
and openapi (the dialer API) and cli (``portal block-list``).
"""
