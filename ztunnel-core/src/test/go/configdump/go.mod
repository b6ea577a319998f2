module ztunnel-java/configdump-check

go 1.22
