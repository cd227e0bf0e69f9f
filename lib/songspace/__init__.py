"""songspace: cluster songs without labels from audio and multilingual lyrics with VAEs.

One subpackage per stage, in the order the data flows and the notebooks run; imports only run down
the stack (``tests/test_architecture.py`` checks it)::

    cli                      the ``songspace`` command
    report/      (06)        2-D maps, figures, summaries, HTML and PDF
    evaluation/  (04, 05)    clustering, metrics and chance, comparison, sweeps, what the user takes home
    training/    (02, 03)    model inputs, the fit loop, budgets, runs on disk
    models/                  the VAE family behind one interface
    data/        (00)        a collection in, one tracks table out, validation
    features/    (01)        decoding, descriptors, musicnn, lyrics embeddings
    config, cache, parallel, log   settings and paths, atomic writes, the executor, logging
"""

__version__ = "0.1.0"
