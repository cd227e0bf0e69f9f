"""songspace: cluster songs without labels from audio and multilingual lyrics with VAEs.

Data flows one way, one module per stage:
data -> audio / lyrics (features) -> models -> train -> cluster -> evaluate -> plots / report.
"""

__version__ = "0.1.0"
