// Command greeter is the example's own small TCP service: for each line a
// client sends, it answers "hello, LINE" and logs the greeting on stdout.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
)

func main() {
	addr := flag.String("addr", ":7777", "address to listen on")
	flag.Parse()
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("greeter: %v", err)
	}
	fmt.Printf("greeter: listening on %s\n", l.Addr())
	for {
		c, err := l.Accept()
		if err != nil {
			log.Fatalf("greeter: accept: %v", err)
		}
		go serve(c)
	}
}

func serve(c net.Conn) {
	defer c.Close()
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		fmt.Fprintf(c, "hello, %s\n", sc.Text())
		fmt.Fprintf(os.Stdout, "greeter: greeted %s\n", sc.Text())
	}
}
