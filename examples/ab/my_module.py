"""The callables of the votakvot-ab examples (needs ``pip install requests``).

From this folder::

    votakvot-ab --gevent -n500 -c100 my_module.get_example
    votakvot-ab -g -n500 -c100 my_module.HttpGet url=http://example.com

``local_server.py`` next to this file serves http://127.0.0.1:8000/ to try them
without the internet (then pass url=http://127.0.0.1:8000/ and set URL below).
"""

import os

import requests

URL = os.environ.get("EXAMPLE_URL", "http://example.com/")


def get_example():
    return requests.get(URL).status_code


class HttpGet:
    def __init__(self, url):
        self.url = url
        self.session = requests.Session()  # reuse connections

    def __call__(self):
        return self.session.get(self.url).status_code

    def close(self):
        self.session.close()
