"""The language of what the system stores and writes itself (architecture §13).

Texts the system composes and keeps (a screening's criteria and reasons, query texts of the data-quality rules,
thread messages, history reasons, the files of a release and its exports) are written in ``STORED_LANGUAGE``,
English, whoever is logged in: stored data, the API, counts by text and the bytes of a release must not depend on
the language of the user who caused them. Pages show stored texts in the reader's language where they can
(``cohorts.enrolment.shown_criteria``); what a user types is stored as typed. The one exception is the codebook's
labels, written in the study's own language (``Study.language``) when it is locked.
"""

STORED_LANGUAGE = "en-gb"
