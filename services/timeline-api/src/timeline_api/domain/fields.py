"""What a valid address, domain, name and id look like in a request (the API's and the
use cases' input)."""

from typing import Annotated

from pydantic import StringConstraints

Email = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[^@\s]+@[^@\s]+$")]
Domain = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=3, pattern=r"^@?[^@\s]+\.[^@\s]+$")
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=200)]
