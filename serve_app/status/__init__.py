"""The public status page and what feeds it: the prober (``prober``, ``probes``), states and thresholds
(``states``), probe history and summaries (``history``), incidents (``incidents``), maintenance windows
(``maintenance``), the page (``report``, ``page``, ``templates/``) and its routes (``routes``)."""
