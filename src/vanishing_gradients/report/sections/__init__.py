"""The report's sections, one module each in the notebook's order (``outline.SECTIONS``): each holds its
section's sentences, display tables and captions, computed from a ReportData through the computation modules
(``stats``, ``evidence``, ``fair``, ``protocol``, ``theory``, ``depth``) and written through ``formats``."""
