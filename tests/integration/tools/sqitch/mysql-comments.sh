#!/bin/sh
# sqitch's `mysql` client for ddlgate: keep comments, so /* ddlgate:allow ... */ directives reach the proxy.
exec mysql --comments "$@"
