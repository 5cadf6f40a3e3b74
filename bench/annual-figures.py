#!/usr/bin/env python3
"""The opening and closing figures of every förbund and year of the fixtures, from `finsam report
annual --format json` on a fresh demo store made by the given binary, as one JSON object: to
compare two builds (`bench/annual-figures.py old/finsam > a.json; ... new/finsam > b.json`)."""
import json
import os
import subprocess
import sys
import tempfile

binary = sys.argv[1]
d = tempfile.mkdtemp()
store = os.path.join(d, 's')
subprocess.run([binary, '--store', store, 'demo'], capture_output=True, check=True)
rows = [('sf-vasteras', 2021), ('sf-vasteras', 2022), ('sf-vasteras', 2023), ('sf-norra-vastmanland', 2023),
        ('sf-vastra-malardalen', 2023), ('sf-vastmanland', 2024)]
keys = [('balansrakning', 'ingaende_eget_kapital'), ('balansrakning', 'eget_kapital'),
        ('kassaflodesanalys', 'likvida_medel_vid_arets_borjan'), ('kassaflodesanalys', 'arets_kassaflode'),
        ('kassaflodesanalys', 'likvida_medel_vid_arets_slut'), ('kassaflodesanalys', 'kassaflode_verksamheten'),
        ('resultatrakning', 'lamnade_bidrag'), ('resultatrakning', 'personalkostnader'), ('resultatrakning', 'kopta_tjanster'),
        ('resultatrakning', 'ovriga_kostnader'), ('resultatrakning', 'arets_resultat')]
out = {}
for f, y in rows:
    r = json.loads(subprocess.run([binary, '--store', store, '--format', 'json', 'report', 'annual', '--forbund', f, '--year', str(y)], capture_output=True, text=True).stdout)
    for st, k in keys:
        line = next((l for l in r['statements'][st] if l['key'] == k), None)
        out[f'{f} {y} {k}'] = line['current']['amount'] if line else None
print(json.dumps(out))
