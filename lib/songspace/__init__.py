"""songspace: cluster songs without labels from audio and multilingual lyrics with VAEs.

Data flows one way, one module per job (the notebook that uses it in brackets):

config (every setting and path) -> collection / fetch / data / validation / plan (00)
-> audio / features / feature_files / musicnn / lyrics / lyrics_models (01) -> scaling / represent / representation
-> models / vade / batches / train / runio / runs / budget (02, 03) -> sweep (04)
-> cluster / evaluate / compare / analysis / export / embed2d (05)
-> results / report_sections / summary / plots / report (06).
"""

__version__ = "0.1.0"
