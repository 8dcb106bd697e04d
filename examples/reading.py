"""The README's reading examples over trials of several days and functions."""

from __future__ import annotations

import datetime

import pandas

import votakvot

root = "./my-results"
votakvot.init(path=root)


@votakvot.track()
def function_name(x):
    return x * x


for x in range(5):
    function_name(x)

today = datetime.date.today().strftime("%y-%m-%d")
print(votakvot.load_report(root))
print(votakvot.load_report(root, full=True).columns.tolist())
print(votakvot.load_report(f"{root}/reading/function_name"))
print(votakvot.load_report(f"{root}/**/{today}"))
print(votakvot.load_report(f"{root}/**/{today}/*:*"))
print(pandas.concat(votakvot.load_report(f"{root}/**/{day}/**") for day in [today, "21-05-20"]))

vs = votakvot.load_trials(root)
print("count", len(vs))
print("ids:", vs.keys())
print("data", [v.data for v in vs.values()][:1])
print("git commits", [v.data.get("meta", {}).get("git", {}).get("commit") for v in vs.values()])
