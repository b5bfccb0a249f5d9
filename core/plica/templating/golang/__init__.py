"""Go's value model and the parts of Go's standard library that templates observe, in Python.

Template data is plain Python; each Python type stands for one Go type:

============================  ===============================  ==========================================
Python value                  Go type (``typeOf``)             notes
============================  ===============================  ==========================================
``dict`` (str keys)           ``map[string]interface {}``      ``range`` and ``toJson`` sort the keys
``list`` / ``tuple``          ``[]interface {}``               ``StringSlice`` gives ``[]string``
``str``                       ``string``
``bool``                      ``bool``
``int``                       ``int``                          ``Int64`` gives ``int64`` (sprig math)
``float``                     ``float64``                      JSON numbers; ``%v`` prints ``1.6e+09``
``None``                      untyped nil                      a JSON ``null`` inside a map
``MISSING``                   invalid value                    a missing map key; prints ``<no value>``
``datetime``                  ``time.Time``                    naive datetimes are taken as UTC
``Duration`` / ``timedelta``  ``time.Duration``
``bytes``                     ``[]uint8``                      ``toJson`` gives standard base64
``TypedNil("[]string")``      a typed nil slice/map/pointer    JSON ``null``, length 0, false
any other object              a Go struct (or pointer)         see below
============================  ===============================  ==========================================

An object that stands for a Go struct exposes Go fields as attributes (``.Foo`` reads attribute ``Foo``) and
Go methods as methods (a method is called with the template arguments). It may define:

* ``__go_type__: str``, the ``%T`` text used by ``typeOf``/``typeIs`` (e.g. ``"*rsa.PublicKey"``);
* ``__go_kind__: str``, the reflect kind for ``kindOf`` when the type name does not tell it;
* ``__go_json__(self) -> Any``, the value ``toJson`` encodes. A ``dict`` returned here is a struct: its key
  order is kept (plain ``dict`` values elsewhere are maps and get sorted keys). ``RawJSON`` embeds
  pre-encoded JSON;
* ``__go_str__(self) -> str``, the text ``%v`` prints (default: ``str(obj)``).

Modules: ``types`` (the Python stand-ins for Go values, truthiness), ``reflect`` (``%T``, kinds,
``DeepEqual``), ``strconv`` (float text, quoting, number and string literals), ``fmt`` (``Sprint``,
``Sprintf``), ``time`` (``Format``, ``Parse``, zones), ``duration`` (``time.Duration``) and ``json``
(``Marshal``, ``Unmarshal``).
"""
