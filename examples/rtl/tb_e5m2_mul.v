// Testbench: every E5M2 operand pair of bitsim's golden vectors (golden/e5m2/mul_rne_all.*.memh) through
// e5m2_mul; compares every result code and every flag word, prints each mismatch (up to 20) and a final
// PASS or FAIL line.  Run: vvp sim +vectors=<dir>/mul_rne_all   (the files <prefix>.{a,b,result,flags}.memh)
`timescale 1ns / 1ps
module tb_e5m2_mul;
    localparam N = 65536;
    reg [7:0] a_mem [0:N-1];
    reg [7:0] b_mem [0:N-1];
    reg [7:0] r_mem [0:N-1];
    reg [4:0] f_mem [0:N-1];
    reg [8*512-1:0] prefix, fname;
    reg  [7:0] a, b;
    wire [7:0] y;
    wire [4:0] flags;
    integer i, errors;

    e5m2_mul dut (.a(a), .b(b), .y(y), .flags(flags));

    initial begin
        if (!$value$plusargs("vectors=%s", prefix)) begin
            $display("FAIL: give +vectors=<path prefix of the .memh files>");
            $finish;
        end
        // poison the expected values so a short file cannot pass unnoticed
        for (i = 0; i < N; i = i + 1) begin r_mem[i] = 8'hxx; f_mem[i] = 5'hxx; end
        $sformat(fname, "%0s.a.memh", prefix);      $readmemh(fname, a_mem);
        $sformat(fname, "%0s.b.memh", prefix);      $readmemh(fname, b_mem);
        $sformat(fname, "%0s.result.memh", prefix); $readmemh(fname, r_mem);
        $sformat(fname, "%0s.flags.memh", prefix);  $readmemh(fname, f_mem);
        errors = 0;
        for (i = 0; i < N; i = i + 1) begin
            a = a_mem[i];
            b = b_mem[i];
            #1;
            if (y !== r_mem[i] || flags !== f_mem[i]) begin
                errors = errors + 1;
                if (errors <= 20)
                    $display("MISMATCH case %0d (result file line %0d): %h * %h = %h flags %h, expected %h flags %h",
                             i, i + 9, a, b, y, flags, r_mem[i], f_mem[i]);
            end
        end
        if (errors == 0) $display("PASS: %0d cases", N);
        else             $display("FAIL: %0d of %0d cases mismatch", errors, N);
        $finish;
    end
endmodule
