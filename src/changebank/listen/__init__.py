"""Listen: programmes, questions, respondents and submissions; the public form; imports and documents."""
