CREATE
TABLE t (
  a 'x
y' /* c
*/ b)