*SENSE:Maximize
NAME          wyndor_mix
ROWS
 N  OBJ
 L  plant2
 L  plant3
 G  mix
 E  link
 L  cap
COLUMNS
    MARK      'MARKER'                 'INTORG'
    b         mix       -2.000000000000e+00
    b         OBJ        4.000000000000e+00
    MARK      'MARKER'                 'INTEND'
    f         link       1.000000000000e+00
    f         cap        1.000000000000e+00
    f         OBJ       -1.000000000000e+00
    x         plant3     3.000000000000e+00
    x         mix        1.000000000000e+00
    x         cap        1.000000000000e+00
    x         OBJ        3.000000000000e+00
    y         plant2     2.000000000000e+00
    y         plant3     2.000000000000e+00
    y         link      -1.000000000000e+00
    y         OBJ        5.000000000000e+00
    MARK      'MARKER'                 'INTORG'
    z         plant3     1.000000000000e+00
    z         mix        1.000000000000e+00
    z         cap       -1.000000000000e+00
    z         OBJ        2.000000000000e+00
    MARK      'MARKER'                 'INTEND'
RHS
    RHS       plant2     1.200000000000e+01
    RHS       plant3     1.800000000000e+01
    RHS       mix        1.000000000000e+00
    RHS       link      -2.000000000000e+00
    RHS       cap        7.500000000000e+00
BOUNDS
 BV BND       b       
 FR BND       f       
 UP BND       x          4.000000000000e+00
 UP BND       z          1.000000000000e+01
ENDATA
